package httpedge

import (
	"io"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/sshgress/sshgress/core/accesslog"
)

// accessRecord gathers one request's access-log line. startAccess makes
// one only when the access log is on; a nil *accessRecord does nothing,
// so with the log off a request costs one nil check and no allocation.
type accessRecord struct {
	log  *accesslog.Log
	line accesslog.Request
	w    countingWriter
	body *countingBody // nil when the request has no body
	r    *http.Request
	orig io.ReadCloser // r.Body before counting, put back by finish
}

// accessFacts are what serve learns of a request by its end.
type accessFacts struct {
	status          int
	total, upstream time.Duration
	visitor         netip.Addr
	verdict         string
}

// startAccess begins the access-log line of a request to ep: it counts
// the bytes of the answer (through the returned writer) and of the
// request body. With the access log off it returns w itself and nil.
func (e *Edge) startAccess(w http.ResponseWriter, r *http.Request, ep *endpoint) (http.ResponseWriter, *accessRecord) {
	if !e.opts.Access.Enabled() {
		return w, nil
	}
	a := &accessRecord{log: e.opts.Access, r: r, line: accesslog.Request{
		Tunnel:    ep.id,
		Account:   ep.account,
		Type:      "http",
		Host:      ep.host,
		Method:    r.Method,
		Path:      r.URL.Path, // never the query
		UserAgent: r.UserAgent(),
	}}
	a.w.ResponseWriter = w
	if r.Body != nil && r.Body != http.NoBody {
		a.orig = r.Body
		a.body = &countingBody{ReadCloser: r.Body}
		r.Body = a.body
	}
	return &a.w, a
}

// finish writes the line; net/http sees the request's own body again
// (guardBody's restore needs it).
func (a *accessRecord) finish(f accessFacts) {
	if a == nil {
		return
	}
	if a.body != nil {
		a.line.In = a.body.n.Load()
		a.r.Body = a.orig
	}
	a.line.Out = a.w.n
	a.line.Status = f.status
	a.line.Total, a.line.Upstream = f.total, f.upstream
	a.line.Visitor = f.visitor
	a.line.Verdict = f.verdict
	a.log.Request(&a.line)
}

// countingWriter counts the body bytes written to the visitor. Unwrap
// lets http.ResponseController reach net/http's writer (flush, hijack,
// deadlines), as the forwarding engine needs.
type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// countingBody counts the request body bytes read from the visitor (by
// the forwarding engine's body goroutine, hence atomic).
type countingBody struct {
	io.ReadCloser
	n atomic.Int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}
