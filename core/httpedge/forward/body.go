package forward

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/sshgress/sshgress/core/tunnel"
)

// bodyWriteWait is how long a finished response waits for the request
// body to finish writing before the connection is given up.
// http.Transport allows 50 ms; on a loaded 2-core machine the sender
// goroutine can be descheduled that long after the upstream already read
// the last byte, and giving up then makes net/http close a healthy visitor
// connection (seen as broken pipes on the visitor's next request). The
// wait only happens when the upstream answered before the body was sent,
// so a longer one costs nothing otherwise.
const bodyWriteWait = time.Second

var errBodyAborted = errors.New("forward: request body aborted after the response ended")

// visitorError marks a failure reading the visitor's request body.
type visitorError struct{ err error }

func (e *visitorError) Error() string { return "forward: read request body: " + e.err.Error() }
func (e *visitorError) Unwrap() error { return e.err }

// bodyFailure returns the failure of a request that failed before its
// response because the visitor's body could not be read (bodyErr from
// endBody), and false for any other failure, which stays the upstream's.
// A stalled body is a BodyTimeout; bad framing or a body cut short is a
// BadBody.
func bodyFailure(bodyErr error) (Failure, bool) {
	var ve *visitorError
	if !errors.As(bodyErr, &ve) {
		return 0, false
	}
	var ne net.Error
	if errors.As(ve.err, &ne) && ne.Timeout() {
		return BodyTimeout, true
	}
	return BadBody, true
}

// sendBody writes r's body (after the head already in pc.bw) and
// reports the result on done. If reading the visitor's body fails, pc is
// closed so the upstream sees a truncated request, not a complete one.
func sendBody(pc *pooledConn, r *http.Request, chunked bool, done chan<- error) {
	err := writeBody(pc, r, chunked)
	var ve *visitorError
	if errors.As(err, &ve) {
		_ = pc.c.Close()
	}
	done <- err
}

// writeBody copies r.Body to pc.bw, flushing after every read so
// streamed uploads go through at once: exactly ContentLength bytes, or
// chunked with r.Trailer after the last chunk. It sets pc.bodyRead once
// r.Body is read to its end.
func writeBody(pc *pooledConn, r *http.Request, chunked bool) error {
	bw := pc.bw
	bp := tunnel.Buffer()
	defer tunnel.PutBuffer(bp)
	buf := *bp
	var dst io.Writer = bw
	var cw io.WriteCloser
	if chunked {
		cw = httputil.NewChunkedWriter(bw)
		dst = cw
	}
	remaining := r.ContentLength // < 0: unknown
	for remaining != 0 {
		p := buf
		if remaining > 0 && int64(len(p)) > remaining {
			p = p[:remaining]
		}
		n, rerr := r.Body.Read(p)
		if n > 0 {
			if _, err := dst.Write(p[:n]); err != nil {
				return fmt.Errorf("forward: write request body: %w", err)
			}
			if remaining > 0 {
				remaining -= int64(n)
			}
			if remaining == 0 {
				// Before the flush: the upstream may answer as soon as
				// it has the last byte, and relay must not think the
				// body is still being read then.
				pc.bodyRead.Store(true)
			}
			if err := bw.Flush(); err != nil {
				return fmt.Errorf("forward: write request body: %w", err)
			}
		}
		if rerr == io.EOF {
			if remaining > 0 {
				return &visitorError{io.ErrUnexpectedEOF}
			}
			break
		}
		if rerr != nil {
			return &visitorError{rerr}
		}
	}
	pc.bodyRead.Store(true)
	if chunked {
		_ = cw.Close() // writes the last chunk "0\r\n" into bw
		for k, vv := range r.Trailer {
			if !httpguts.ValidHeaderFieldName(k) || !forwardTrailer(r.Header, k) {
				continue
			}
			writeField(bw, k, vv)
		}
		bw.WriteString("\r\n")
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("forward: write request body: %w", err)
	}
	return nil
}

// endBody waits for the request body writer (if any, done non-nil) and
// returns its result. If it has not finished within grace it is aborted
// and an error returned: pc is closed, which ends writes to the upstream;
// a writer still blocked reading the visitor's body after a further
// bodyWriteWait is interrupted with a read deadline on the visitor's
// connection (which net/http then closes after the response).
func endBody(pc *pooledConn, rc *http.ResponseController, done chan error, grace time.Duration) error {
	if done == nil {
		return nil
	}
	select {
	case err := <-done:
		return err
	default:
	}
	var t *time.Timer
	if grace > 0 {
		t = time.NewTimer(grace)
		select {
		case err := <-done:
			t.Stop()
			return err
		case <-t.C:
		}
	}
	_ = pc.c.Close()
	if !pc.bodyRead.Load() {
		if t == nil {
			t = time.NewTimer(bodyWriteWait)
		} else {
			t.Reset(bodyWriteWait)
		}
		select {
		case err := <-done:
			t.Stop()
			return abortedBody(err)
		case <-t.C:
			// If rc cannot set deadlines, this waits for the visitor.
			_ = rc.SetReadDeadline(time.Now())
		}
	}
	<-done // ended by the closed pc or the deadline just set: not the visitor's fault
	return errBodyAborted
}

// abortedBody is endBody's result for a body writer that finished
// on its own after pc was closed: the visitor's body error if it had one
// (the writer may have closed pc itself a moment before), else
// errBodyAborted.
func abortedBody(err error) error {
	var ve *visitorError
	if errors.As(err, &ve) {
		return err
	}
	return errBodyAborted
}
