package httpedge

import (
	"bytes"
	"context"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/sshgress/sshgress/core/inspect"
	"github.com/sshgress/sshgress/core/pluginhost"
	"github.com/sshgress/sshgress/core/usererr"
)

// InspectURL is the tunnel's private inspector link (tunnel.Inspected);
// "" without --inspect or an inspector on this edge.
func (ep *endpoint) InspectURL() string {
	if ep.insp == nil {
		return ""
	}
	return ep.insp.URL()
}

// verdictText describes a middleware decision for the inspector.
func verdictText(d pluginhost.Decision) string {
	if d.Respond {
		return "answered the visitor itself (" + http.StatusText(d.Status) + ")"
	}
	if id := d.Identity; id != nil {
		who := id.ID
		if who == "" {
			who = id.Email
		}
		return "let the request through as " + who
	}
	return "let the request through"
}

// printHeaders writes the request's header as it went upstream, one line
// each, secrets redacted (--verbose).
func (ep *endpoint) printHeaders(h http.Header) {
	for _, k := range slices.Sorted(maps.Keys(h)) {
		for _, v := range h[k] {
			if inspect.Secret(k) {
				v = inspect.Redacted
			}
			ep.con.Line("    " + k + ": " + v)
		}
	}
}

// replay sends a request from the inspector through the tunnel to the
// owner's service, marked with inspect.ReplayHeader, and captures it as
// a new exchange. Middleware does not run: only the owner can replay, and
// the credentials and identity headers a middleware would check or set
// are not kept.
func (ep *endpoint) replay(ctx context.Context, rep inspect.Replay) (id int, err error) {
	if !ep.ready.Load() {
		return 0, usererr.New("The tunnel is not ready.")
	}
	u, err := url.Parse(ep.url)
	if err != nil {
		return 0, err
	}
	r, err := http.NewRequestWithContext(ctx, rep.Method, ep.url, bytes.NewReader(rep.Body))
	if err != nil {
		return 0, usererr.New("The method or path is not valid.")
	}
	if r.URL, err = url.ParseRequestURI(rep.Target); err != nil {
		return 0, usererr.New("The path is not a valid request target.")
	}
	r.Host = u.Host
	r.RemoteAddr = rep.Visitor.String()
	r.Header = rep.Header.Clone()
	if r.Header == nil {
		r.Header = http.Header{}
	}
	StripVisitorHeaders(r.Header)
	r.Header.Set(inspect.ReplayHeader, "1")
	rw := &replayWriter{h: http.Header{}}
	c, w := ep.insp.Begin(rw, r, rep.Visitor.Addr(), true)
	proto := "http"
	if ep.https {
		proto = "https"
	}
	SetForwarded(r.Header, rep.Visitor, proto, r.Host)
	addLoopID(r.Header, ep.edge.loopHeader)
	start := time.Now()
	status := 0
	defer func() {
		// A response cut short ends Forward with http.ErrAbortHandler,
		// meant for a visitor's connection; here there is none to abort.
		if v := recover(); v != nil && v != http.ErrAbortHandler {
			panic(v)
		}
		took := time.Since(start)
		ep.con.Request(r.Method+" (replay)", r.URL.Path, status, took, rep.Visitor.Addr())
		id = c.End(status, took).ID
	}()
	status, _ = ep.upstream.Forward(w, r, rep.Visitor)
	return 0, nil
}

// replayWriter receives a replay's response; the capture keeps what the
// inspector shows, the rest is dropped.
type replayWriter struct {
	h      http.Header
	status int
}

func (w *replayWriter) Header() http.Header { return w.h }
func (w *replayWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
}
func (w *replayWriter) Write(p []byte) (int, error) { return len(p), nil }
