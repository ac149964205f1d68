package h1

import (
	"io"
	"net/http"
	"strings"
	"time"
)

// body is a request's body as the handler reads it: the first read sends
// 100 Continue when the visitor asked for it, and the end of the body
// arms the connection's watcher. Close does nothing: what the handler
// leaves unread is drained (bounded) or the connection closed, after the
// response.
type body struct {
	c      *conn
	rc     io.ReadCloser
	expect bool // 100-continue asked for and not yet sent
	eof    bool
	err    error
}

func (b *body) reset(c *conn, req *http.Request) {
	b.c = c
	b.rc = req.Body
	b.eof, b.err = false, nil
	e := req.Header["Expect"]
	b.expect = len(e) == 1 && strings.EqualFold(e[0], "100-continue") && req.ContentLength != 0
}

func (b *body) Read(p []byte) (int, error) {
	if b.eof {
		return 0, io.EOF
	}
	if b.err != nil {
		return 0, b.err
	}
	if b.expect {
		b.expect = false
		b.c.w.writeContinue()
	}
	n, err := b.rc.Read(p)
	switch {
	case err == io.EOF:
		b.eof = true
		b.c.watch.arm()
	case err != nil:
		b.err = err
	}
	return n, err
}

func (b *body) Close() error { return nil }

// drain reads and drops what the handler left of the body, up to
// maxDiscard, and reports whether the connection can carry on.
func (b *body) drain() bool {
	if b.rc == nil || b.rc == http.NoBody || b.eof {
		return true
	}
	if b.err != nil || b.expect {
		return false // broken, or the visitor still waits for 100 Continue
	}
	_ = b.c.rwc.SetReadDeadline(time.Now().Add(b.c.srv.readHeaderTimeout()))
	n, err := io.CopyN(io.Discard, b.rc, maxDiscard+1)
	_ = b.c.rwc.SetReadDeadline(time.Time{})
	return err == io.EOF && n <= maxDiscard
}
