package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sshgress/sshgress/sdk"
)

// ReviewsResponses reports whether a plugin of the chain has a response
// phase (its manifest's ResponseHead), so the HTTP edge must call
// ReviewResponse for each final response. A nil chain has none.
func (c *Chain) ReviewsResponses() bool { return c != nil && len(c.reviewers) > 0 }

// ReviewResponse runs the response phase for the head of one final response
// to r with status and headers h (hop-by-hop and framing headers already
// left out): in chain order, every plugin with a response phase is asked
// for edits, which are applied to h before the next plugin sees it. Each
// call is bounded by Options.CallTimeout and by r's context. Answers with a
// cache hint are reused for responses with the same status and the same
// values of the response headers the hint names, with no call. id is who
// the request's middleware authenticated, nil if none.
//
// A non-nil error means fail closed: a plugin is down, late or answered
// nonsense, and the caller must answer with its own error page, never the
// unedited response. h may then be partly edited. A chain without such a
// plugin returns nil at once.
func (c *Chain) ReviewResponse(r *http.Request, status int, h http.Header, id *sdk.Identity) error {
	if len(c.reviewers) == 0 {
		return nil
	}
	if c.closed.Load() {
		return errors.New("pluginhost: review response: tunnel is closed")
	}
	for _, l := range c.reviewers {
		gen := l.p.gen.Load()
		e, hit := l.reviews.getStatus(status, h, gen, time.Now())
		if hit {
			l.p.meters.cacheHits.Hit()
		} else {
			head := responseHead(c.tunnelID, r, status, h, id)
			var err error
			if e, err = l.p.review(r.Context(), head); err != nil {
				return fmt.Errorf("pluginhost: plugin %q: %w", l.p.spec.Name, err)
			}
			if e.Cache != nil && e.Cache.TTL > 0 {
				l.reviews.putStatus(status, e.Cache, h, gen, e, time.Now())
			}
		}
		e.Apply(h)
	}
	return nil
}

// responseHead is what a plugin with a response phase sees of one
// response: the request's method, host and path, and a private copy of
// the response headers.
func responseHead(tunnelID string, r *http.Request, status int, h http.Header, id *sdk.Identity) *sdk.ResponseHead {
	path := "/"
	if r.URL != nil {
		path = r.URL.EscapedPath()
	}
	head := &sdk.ResponseHead{
		TunnelID: tunnelID,
		Method:   r.Method,
		Host:     requestHost(r.Host),
		Path:     path,
		Status:   status,
		Header:   h.Clone(),
	}
	if head.Header == nil {
		head.Header = http.Header{}
	}
	head.Header.Del("Content-Length") // framing: the edge's own business
	if id != nil {
		cp := *id
		head.Identity = &cp
	}
	return head
}

// review sends head to the plugin's ReviewResponse, bounded by the call
// timeout, and returns valid edits or an error (fail closed): plugin down,
// no answer in time, or edits that fail sdk.ResponseEdits.Validate.
func (p *proc) review(ctx context.Context, head *sdk.ResponseHead) (sdk.ResponseEdits, error) {
	inst := p.cur.Load()
	if inst == nil {
		return sdk.ResponseEdits{}, errPluginDown
	}
	timeout := p.host.opts.CallTimeout
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	p.host.checkCalls.Add(1)
	start := time.Now()
	e, err := inst.rpc.ReviewResponse(cctx, head)
	if err == nil {
		if verr := e.Validate(); verr != nil {
			err = fmt.Errorf("review response: nonsense edits: %w", verr)
			p.meters.review.Done(start, err)
			return sdk.ResponseEdits{}, err
		}
	}
	p.meters.review.Done(start, err)
	if err != nil {
		if cctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded {
			return sdk.ResponseEdits{}, fmt.Errorf("review response: no answer within %v: %w", timeout, err)
		}
		return sdk.ResponseEdits{}, err
	}
	return e, nil
}
