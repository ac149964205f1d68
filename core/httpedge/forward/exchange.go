package forward

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
)

const (
	// maxResponseHead bounds the bytes of one response head (each 1xx
	// head counts separately) an upstream may send.
	maxResponseHead = 1 << 20
	// max1xx bounds the informational responses before the final one.
	max1xx = 10
)

// exchange runs one request on pc. retry reports a failure on a reused
// connection before any response byte that may be retried on a new one
// (only when canRetry; nothing was written to w then).
func (u *Upstream) exchange(w http.ResponseWriter, r *http.Request, pc *pooledConn, hasBody bool, upType string, canRetry bool) (status int, retry bool, err error) {
	ctx := r.Context()
	stop := context.AfterFunc(ctx, pc.abort)
	rc := http.NewResponseController(w)
	canRetry = canRetry && pc.reused && !hasBody

	chunked := hasBody && (r.ContentLength < 0 || len(r.Trailer) > 0)
	writeHead(pc.bw, r, u.host.Load(), hasBody, chunked, upType)
	var bodyDone chan error
	if hasBody {
		// The body is sent while the response is read (an upstream may
		// answer early). That needs full duplex: without it net/http's
		// HTTP/1 server would consume the request body itself once the
		// response starts, racing with sendBody. A ResponseWriter that
		// cannot enable it gets the body sent before the response is read.
		bodyDone = make(chan error, 1)
		pc.bodyRead.Store(false)
		if err := rc.EnableFullDuplex(); err != nil && r.ProtoMajor == 1 {
			sendBody(pc, r, chunked, bodyDone)
		} else {
			go sendBody(pc, r, chunked, bodyDone)
		}
	} else if err := pc.bw.Flush(); err != nil {
		stop()
		_ = pc.c.Close()
		if canRetry && ctx.Err() == nil {
			u.dropStale(pc.idleSince)
			return 0, true, nil
		}
		status, err := u.failEarly(w, r, UpstreamDown, fmt.Errorf("forward: write request: %w", err))
		return status, false, err
	}
	pc.lim.n = maxResponseHead
	if _, err := pc.br.Peek(1); err != nil {
		berr := endBody(pc, rc, bodyDone, 0)
		stop()
		_ = pc.c.Close()
		if f, ok := bodyFailure(berr); ok {
			// The visitor's body broke the request: the body sender closed
			// the upstream connection, which is why nothing came back.
			status, err := u.failBody(w, r, f, berr)
			return status, false, err
		}
		if canRetry && ctx.Err() == nil {
			u.dropStale(pc.idleSince)
			return 0, true, nil
		}
		status, err := u.failEarly(w, r, UpstreamDown, fmt.Errorf("forward: read response: %w", err))
		return status, false, err
	}
	var resp *http.Response
	for n1xx := 0; ; n1xx++ {
		resp, err = http.ReadResponse(pc.br, r)
		if err == nil && (resp.StatusCode < 100 || resp.StatusCode > 999) {
			err = fmt.Errorf("invalid status code %d", resp.StatusCode)
		}
		if err == nil && n1xx >= max1xx && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			err = errors.New("too many 1xx informational responses")
		}
		if err != nil {
			berr := endBody(pc, rc, bodyDone, 0)
			stop()
			_ = pc.c.Close()
			if f, ok := bodyFailure(berr); ok && isIOError(err) {
				status, err := u.failBody(w, r, f, berr)
				return status, false, err
			}
			f := BadResponse
			if isIOError(err) {
				f = UpstreamDown
			}
			status, err := u.failEarly(w, r, f, fmt.Errorf("forward: read response: %w", err))
			return status, false, err
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		if resp.StatusCode != http.StatusContinue && r.ProtoAtLeast(1, 1) {
			// Forward 102, 103 and friends (never to HTTP/1.0 visitors);
			// 100 Continue is between the edge and the upstream (net/http
			// answers the visitor's). The 1xx header keys are removed
			// again afterwards, including values the caller had set.
			h := w.Header()
			copyResponseHeader(h, resp.Header)
			w.WriteHeader(resp.StatusCode)
			conn := resp.Header["Connection"]
			for k := range resp.Header {
				if !HopByHop(conn, k) {
					delete(h, k)
				}
			}
		}
		pc.lim.n = maxResponseHead
	}
	pc.lim.n = math.MaxInt64

	if resp.StatusCode == http.StatusSwitchingProtocols && bodyDone != nil {
		// A request with a body never asks to switch. Refuse at once,
		// then stop the body sender: nothing may read r.Body once Forward
		// has returned, and the rest of the body is never read.
		stop()
		_ = pc.c.Close()
		w.Header().Set("Connection", "close")
		status, err := u.failEarly(w, r, BadResponse, errors.New("forward: upstream switched protocols on a request with a body"))
		endBody(pc, rc, bodyDone, 0)
		return status, false, err
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		status, err := u.switchProtocols(w, r, pc, resp, upType, stop)
		return status, false, err
	}
	status, err = u.relay(w, r, pc, resp, rc, stop, bodyDone)
	return status, false, err
}
