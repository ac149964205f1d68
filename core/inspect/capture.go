package inspect

import (
	"bytes"
	"io"
	"net/http"
	"net/netip"
	"time"
)

// Capture records one exchange while it streams. A nil *Capture does
// nothing, so callers need no check for tunnels without --inspect.
type Capture struct {
	t    *Tunnel
	ex   *Exchange
	r    *http.Request
	orig io.ReadCloser // r.Body before Begin, put back by End
	req  *teeBody
	resp *teeWriter
}

// Begin starts capturing r, as the visitor sent it: the request head is
// copied (redacted) now, its body is teed as the upstream reads it. The
// returned writer tees the response; use it instead of w. End must be
// called before the handler returns.
func (t *Tunnel) Begin(w http.ResponseWriter, r *http.Request, visitor netip.Addr, replayed bool) (*Capture, http.ResponseWriter) {
	if t == nil {
		return nil, w
	}
	h, size, trunc := redactHeader(r.Header, maxHeadBytes)
	ex := &Exchange{
		Replayed: replayed, Method: r.Method, Target: r.URL.RequestURI(), Proto: r.Proto, Host: r.Host,
		Header: h, HeadTruncated: trunc, Visitor: visitor, Start: time.Now(),
	}
	ex.size = exchangeOverhead + int64(size+len(ex.Method)+len(ex.Target)+len(ex.Host))
	c := &Capture{t: t, ex: ex, r: r, resp: &teeWriter{ResponseWriter: w}}
	c.resp.c = c
	if r.Body != nil && r.Body != http.NoBody {
		c.orig = r.Body
		c.req = &teeBody{ReadCloser: r.Body}
		r.Body = c.req
	}
	return c, c.resp
}

// Verdict records what the middleware decided.
func (c *Capture) Verdict(v string) {
	if c != nil {
		c.ex.Verdict = v
	}
}

// End keeps the exchange with the status sent (0 for none) and the local
// service's part of its time, and puts the request's body back.
func (c *Capture) End(status int, upstream time.Duration) *Exchange {
	if c == nil {
		return nil
	}
	ex := c.ex
	ex.Took = time.Since(ex.Start)
	ex.Upstream = upstream
	if c.req != nil {
		c.r.Body = c.orig
		ex.Body = c.req.body.Body()
	}
	c.resp.snapshot()
	ex.Status = status
	if status == 0 {
		ex.Status = c.resp.status
	}
	ex.RespBody = c.resp.body.Body()
	ex.size += int64(len(ex.Body.Data) + len(ex.RespBody.Data))
	c.t.add(ex)
	return ex
}

// boundedBuf keeps the first MaxBodyBytes bytes written and counts all.
type boundedBuf struct {
	data []byte
	n    int64
}

func (b *boundedBuf) write(p []byte) {
	b.n += int64(len(p))
	if room := MaxBodyBytes - len(b.data); room > 0 {
		b.data = append(b.data, p[:min(room, len(p))]...)
	}
}

// Body returns what was kept, in a slice of its own length: the growth
// slack of appending is not kept (the caps count len).
func (b *boundedBuf) Body() Body {
	data := b.data
	if cap(data) > len(data)+len(data)/8 {
		data = bytes.Clone(data)
	}
	return Body{Data: data, Len: b.n}
}

// teeBody keeps what the upstream reads of the request body.
type teeBody struct {
	io.ReadCloser
	body boundedBuf
}

func (b *teeBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.body.write(p[:n])
	return n, err
}

// teeWriter keeps the final response's status, header and body as they
// pass to the visitor. Unwrap lets http.ResponseController reach the
// writer below (flushes, full duplex, hijacking for upgrades).
type teeWriter struct {
	http.ResponseWriter
	c      *Capture
	status int
	done   bool // header snapshot taken
	body   boundedBuf
}

func (w *teeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *teeWriter) WriteHeader(code int) {
	if code >= 200 && !w.done {
		w.status = code
		w.snapshot()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *teeWriter) Write(p []byte) (int, error) {
	if !w.done {
		w.status = http.StatusOK
		w.snapshot()
	}
	n, err := w.ResponseWriter.Write(p)
	w.body.write(p[:n])
	return n, err
}

// snapshot copies the response header once (redacted).
func (w *teeWriter) snapshot() {
	if w.done {
		return
	}
	w.done = true
	h, size, trunc := redactHeader(w.ResponseWriter.Header(), maxHeadBytes)
	w.c.ex.RespHeader = h
	w.c.ex.size += int64(size)
	w.c.ex.HeadTruncated = w.c.ex.HeadTruncated || trunc
}
