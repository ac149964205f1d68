package httpedge

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/accesslog"
)

// TestAccessOffDoesNotAllocate: with the access log off, the hook in
// ServeHTTP costs a nil check: no allocation, and the visitor's writer
// and body are left as they are.
func TestAccessOffDoesNotAllocate(t *testing.T) {
	e := New(Options{})
	ep := &endpoint{id: "t1", host: "app.localhost"}
	r := httptest.NewRequest("POST", "/p?token=x", strings.NewReader("body"))
	w := httptest.NewRecorder()
	body := r.Body
	allocs := testing.AllocsPerRun(200, func() {
		w2, a := e.startAccess(w, r, ep)
		a.finish(accessFacts{status: 200, total: time.Millisecond})
		if w2 != http.ResponseWriter(w) || r.Body != body {
			t.Fatal("the access hook wrapped the request while off")
		}
	})
	if allocs != 0 {
		t.Errorf("access hook while off: %v allocations per request, want 0", allocs)
	}
}

// TestAccessCountsBytes: with the log on, the bytes of the body read and
// of the answer written are counted, and the visitor's body is put back.
func TestAccessCountsBytes(t *testing.T) {
	var buf strings.Builder
	l, err := accesslog.Open(accesslog.Stderr, accesslog.FormatJSON, &buf)
	if err != nil {
		t.Fatal(err)
	}
	e := New(Options{Access: l})
	ep := &endpoint{id: "t1", account: "ann", host: "app.localhost"}
	r := httptest.NewRequest("POST", "/p?token=x", strings.NewReader("12345"))
	body := r.Body
	w, a := e.startAccess(httptest.NewRecorder(), r, ep)
	io.ReadAll(r.Body)
	io.WriteString(w, "abc")
	a.finish(accessFacts{status: 201, visitor: netip.MustParseAddr("192.0.2.1"), verdict: accesslog.VerdictNone})
	l.Flush()
	if r.Body != body {
		t.Error("the visitor's body was not put back")
	}
	for _, want := range []string{`"status":201`, `"visitor":"192.0.2.1"`, `"bytes_in":5`, `"bytes_out":3`, `"path":"/p"`, `"account":"ann"`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("line %s has no %s", buf.String(), want)
		}
	}
}

// BenchmarkAccessLine measures one request's access line (JSON, to a
// discarding writer): the cost an operator pays for log.access.
func BenchmarkAccessLine(b *testing.B) {
	l, _ := accesslog.Open(accesslog.Stderr, accesslog.FormatJSON, io.Discard)
	e := New(Options{Access: l})
	ep := &endpoint{id: "t1", account: "ann", host: "app.localhost"}
	r := httptest.NewRequest("GET", "/p", nil)
	r.Header.Set("User-Agent", "bench/1.0")
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		_, a := e.startAccess(w, r, ep)
		a.finish(accessFacts{status: 200, total: time.Millisecond, verdict: accesslog.VerdictNone})
	}
}
