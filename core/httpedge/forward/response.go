package forward

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/sshgress/sshgress/core/tunnel"
)

// relay streams the final response resp to the visitor and pools or
// closes pc.
func (u *Upstream) relay(w http.ResponseWriter, r *http.Request, pc *pooledConn, resp *http.Response, rc *http.ResponseController, stop func() bool, bodyDone chan error) (int, error) {
	h := w.Header()
	if review := u.review.Load(); review != nil {
		// The review edits a head of its own: if it fails, the page
		// below goes out with none of the response's headers.
		rh := make(http.Header, len(resp.Header))
		copyResponseHeader(rh, resp.Header)
		if err := (*review)(r, resp.StatusCode, rh); err != nil {
			stop()
			_ = pc.c.Close()
			if bodyDone != nil && r.ProtoMajor == 1 {
				h.Set("Connection", "close") // the rest of the visitor's body is never read
			}
			status, err := u.failEarly(w, r, ReviewFailed, fmt.Errorf("forward: review response: %w", err))
			endBody(pc, rc, bodyDone, 0)
			return status, err
		}
		copyResponseHeader(h, rh)
	} else {
		copyResponseHeader(h, resp.Header)
	}
	u.respEdit.Load().Apply(h)
	announced := len(resp.Trailer)
	if announced > 0 {
		keys := make([]string, 0, announced)
		for k := range resp.Trailer {
			keys = append(keys, k)
		}
		h.Add("Trailer", strings.Join(keys, ", "))
	}
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
		bp := tunnel.Buffer()
		buf := *bp
		for {
			n, rerr := resp.Body.Read(buf)
			if n > 0 {
				if _, werr := w.Write(buf[:n]); werr != nil {
					tunnel.PutBuffer(bp)
					endBody(pc, rc, bodyDone, 0)
					stop()
					_ = pc.c.Close()
					return status, fmt.Errorf("forward: write response: %w", werr)
				}
				// Flush when no more bytes are waiting, so streamed
				// responses (SSE, long poll) reach the visitor at once
				// without a flush per chunk while bytes pour in; the
				// handler's return flushes the end.
				if rerr == nil && pc.br.Buffered() == 0 {
					_ = rc.Flush()
				}
			}
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
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
		tunnel.PutBuffer(bp)
	}

	if len(resp.Trailer) > 0 {
		if len(resp.Trailer) == announced {
			for k, vv := range resp.Trailer {
				h[k] = vv
			}
		} else {
			for k, vv := range resp.Trailer {
				h[http.TrailerPrefix+k] = vv
			}
		}
	}

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

// isIOError reports whether a response read failed for lack of bytes
// (connection closed or broken) rather than because of what was sent.
func isIOError(err error) bool {
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.As(err, &ne)
}
