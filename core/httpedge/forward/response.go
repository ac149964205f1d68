package forward

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/sshgress/sshgress/core/httpedge/compress"
	"github.com/sshgress/sshgress/core/tunnel"
)

// relay streams the final response resp to the visitor and pools or
// closes pc.
func (u *Upstream) relay(w http.ResponseWriter, r *http.Request, pc *pooledConn, resp *http.Response, rc *http.ResponseController, stop func() bool, bodyDone chan error) (int, error) {
	h := w.Header()
	if err := u.reviewHead(r, resp); err != nil {
		stop()
		_ = pc.c.Close()
		if bodyDone != nil && r.ProtoMajor == 1 {
			h.Set("Connection", "close") // the rest of the visitor's body is never read
		}
		status, err := u.failEarly(w, r, ReviewFailed, err)
		endBody(pc, rc, bodyDone, 0)
		return status, err
	}
	announced, zw := u.startResponse(w, r, resp)
	status := resp.StatusCode
	if bodyDone != nil && len(bodyDone) == 0 && !pc.bodyRead.Load() && r.ProtoMajor == 1 {
		// The upstream answered before the visitor's body was all read.
		// If it is not read soon, endBody stops reading it, and the
		// visitor's connection cannot serve another request: say so now,
		// rather than let the client reuse a connection we then close.
		h.Set("Connection", "close")
	}
	w.WriteHeader(status)
	if announced > 0 {
		// Make net/http send the response chunked so trailers can follow.
		_ = rc.Flush()
	}

	if resp.Body != http.NoBody {
		var out io.Writer = w
		if zw != nil {
			out = zw
		}
		bp := tunnel.Buffer()
		buf := *bp
		writeFailed := func(werr error) (int, error) {
			zw.Release()
			tunnel.PutBuffer(bp)
			endBody(pc, rc, bodyDone, 0)
			stop()
			_ = pc.c.Close()
			return status, fmt.Errorf("forward: write response: %w", werr)
		}
		for {
			n, rerr := resp.Body.Read(buf)
			if n > 0 {
				if _, werr := out.Write(buf[:n]); werr != nil {
					return writeFailed(werr)
				}
				// Flush when no more bytes are waiting, so streamed
				// responses (SSE, long poll) reach the visitor at once
				// without a flush per chunk while bytes pour in; the
				// handler's return flushes the end. An encoder (zw)
				// gives up what it holds at each such flush too.
				if rerr == nil && pc.br.Buffered() == 0 {
					if werr := zw.Flush(); werr != nil {
						return writeFailed(werr)
					}
					_ = rc.Flush()
				}
			}
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
				zw.Release()
				tunnel.PutBuffer(bp)
				endBody(pc, rc, bodyDone, 0)
				stop()
				_ = pc.c.Close()
				if errors.Is(r.Context().Err(), context.Canceled) {
					return status, fmt.Errorf("forward: visitor went away: %w", context.Cause(r.Context()))
				}
				panic(http.ErrAbortHandler)
			}
		}
		if werr := zw.Close(); werr != nil {
			return writeFailed(werr) // Release after Close does nothing
		}
		tunnel.PutBuffer(bp)
	}

	setTrailers(h, resp.Trailer, announced)

	reuse := true
	if bodyDone != nil {
		if len(bodyDone) == 0 {
			// The upstream answered before the request body was all sent:
			// deliver the response now, then wait for the body briefly.
			_ = rc.Flush()
		}
		reuse = endBody(pc, rc, bodyDone, bodyWriteWait) == nil
	}
	if !stop() {
		reuse = false // the visitor left and pc is being closed
	}
	if reuse && !resp.Close {
		u.put(pc)
	} else {
		_ = pc.c.Close()
	}
	return status, nil
}

// reviewHead runs the tunnel's response review (SetResponseReview) on
// resp's head: resp.Header becomes the reviewed end-to-end headers. Its
// error refuses the response.
func (u *Upstream) reviewHead(r *http.Request, resp *http.Response) error {
	review := u.review.Load()
	if review == nil {
		return nil
	}
	rh := make(http.Header, len(resp.Header))
	copyResponseHeader(rh, resp.Header)
	if err := (*review)(r, resp.StatusCode, rh); err != nil {
		return fmt.Errorf("forward: review response: %w", err)
	}
	resp.Header = rh
	return nil
}

// startResponse sets w's header from the final response resp (its
// end-to-end headers, then the tunnel's static response edits), announces
// resp's trailers, and returns how many it announced and the body's
// encoder: nil unless --compression encodes this body.
func (u *Upstream) startResponse(w http.ResponseWriter, r *http.Request, resp *http.Response) (announced int, zw *compress.Writer) {
	h := w.Header()
	copyResponseHeader(h, resp.Header)
	u.respEdit.Load().Apply(h)
	announced = len(resp.Trailer)
	if announced > 0 {
		keys := make([]string, 0, announced)
		for k := range resp.Trailer {
			keys = append(keys, k)
		}
		h.Add("Trailer", strings.Join(keys, ", "))
	}
	if u.compress.Load() && resp.Body != http.NoBody {
		zw = compress.Encode(r, resp.StatusCode, resp.ContentLength, h, w)
	}
	return announced, zw
}

// setTrailers passes the upstream's trailers on after the body: as
// announced ones when all were announced, else with net/http's
// TrailerPrefix.
func setTrailers(h, trailer http.Header, announced int) {
	if len(trailer) == 0 {
		return
	}
	if len(trailer) == announced {
		for k, vv := range trailer {
			h[k] = vv
		}
		return
	}
	for k, vv := range trailer {
		h[http.TrailerPrefix+k] = vv
	}
}

// isIOError reports whether a response read failed for lack of bytes
// (connection closed or broken) rather than because of what was sent.
func isIOError(err error) bool {
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.As(err, &ne)
}
