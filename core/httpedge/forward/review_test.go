package forward_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/sshgress/sshgress/core/httpedge/forward"
	"github.com/sshgress/sshgress/sdk"
)

// reviewLog records the calls of a response review.
type reviewLog struct {
	mu       sync.Mutex
	statuses []int
	heads    []http.Header
}

func (l *reviewLog) record(status int, h http.Header) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.statuses = append(l.statuses, status)
	l.heads = append(l.heads, h.Clone())
}

func (l *reviewLog) calls() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.statuses)
}

// TestUpstreamResponseReview: the review sees every final response head
// without its hop-by-hop headers, its edits reach the visitor, and the
// static response edits apply after it (the user's flags win).
func TestUpstreamResponseReview(t *testing.T) {
	e := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Server", "dev-server/1.0")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "<p>hi</p>")
	}, forward.Options{})
	var log reviewLog
	e.u.SetResponseReview(func(r *http.Request, status int, h http.Header) error {
		log.record(status, h)
		if strings.HasPrefix(h.Get("Content-Type"), "text/html") {
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("X-Frame-Options", "SAMEORIGIN")
		}
		h.Del("Server")
		return nil
	})
	e.u.SetResponseEdit(forward.NewHeaderEdit([]string{"X-Frame-Options"}, []sdk.HeaderField{{Name: "X-Frame-Options", Value: "DENY"}}))
	for i := range 2 { // a pooled connection too
		status, body, h := get(t, e.srv.Client(), e.url("/"))
		if status != http.StatusCreated || body != "<p>hi</p>" {
			t.Fatalf("got %d %q, want 201 and the upstream's body", status, body)
		}
		if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("X-Content-Type-Options = %q, want the review's nosniff", got)
		}
		if got := h.Values("X-Frame-Options"); len(got) != 1 || got[0] != "DENY" {
			t.Errorf("X-Frame-Options = %q, want the static edit's DENY over the review's", got)
		}
		if got := h.Get("Server"); got != "" {
			t.Errorf("Server = %q, want it removed by the review", got)
		}
		if log.calls() != i+1 {
			t.Fatalf("review called %d times for %d responses", log.calls(), i+1)
		}
		if got, head := log.statuses[i], log.heads[i]; got != http.StatusCreated || head.Get("Keep-Alive") != "" || head.Get("Content-Type") != "text/html" {
			t.Errorf("review saw status %d, headers %v; want 201 with Content-Type and without hop-by-hop headers", got, head)
		}
	}
}

// TestUpstreamResponseReviewFails: a failing review answers the edge's
// 503 page, with none of the upstream's headers or body, and the upstream
// connection is not reused.
func TestUpstreamResponseReviewFails(t *testing.T) {
	e := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Set-Cookie", "session=upstream")
		io.WriteString(w, "upstream body")
	}, forward.Options{})
	e.u.SetResponseReview(func(*http.Request, int, http.Header) error { return errors.New("plugin down") })
	status, body, h := get(t, e.srv.Client(), e.url("/"))
	if status != http.StatusServiceUnavailable || h.Get("X-Sshgress-Error") != "ERR_SSHGRESS_UNAVAILABLE" {
		t.Errorf("got %d with error code %q, want 503 ERR_SSHGRESS_UNAVAILABLE", status, h.Get("X-Sshgress-Error"))
	}
	if strings.Contains(body, "upstream body") || h.Get("Set-Cookie") != "" {
		t.Errorf("the unreviewed response leaked: body %q, Set-Cookie %q", body, h.Get("Set-Cookie"))
	}
	res := e.result(t)
	if res.status != http.StatusServiceUnavailable || res.err == nil || !strings.Contains(res.err.Error(), "plugin down") {
		t.Errorf("Forward = %d, %v; want 503 and the review's error", res.status, res.err)
	}
	if idle := e.u.IdleCount(); idle != 0 {
		t.Errorf("IdleCount = %d after a failed review, want the connection closed", idle)
	}

	e.u.SetResponseReview(nil) // back to no review
	if status, body, _ := get(t, e.srv.Client(), e.url("/")); status != http.StatusOK || body != "upstream body" {
		t.Errorf("without a review: %d %q, want 200 and the upstream's body", status, body)
	}
}

// TestUpstreamResponseReviewNotForSwitch: a 101 switch is not reviewed.
func TestUpstreamResponseReviewNotForSwitch(t *testing.T) {
	upgrader := websocket.Upgrader{}
	e := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		c, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		c.WriteMessage(websocket.TextMessage, []byte("hello"))
		c.ReadMessage()
	}, forward.Options{})
	var log reviewLog
	e.u.SetResponseReview(func(r *http.Request, status int, h http.Header) error {
		log.record(status, h)
		return errors.New("must not be called")
	})
	ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(e.url("/ws"), "http"), nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer ws.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	if _, msg, err := ws.ReadMessage(); err != nil || string(msg) != "hello" {
		t.Fatalf("greeting: got %q, %v", msg, err)
	}
	if n := log.calls(); n != 0 {
		t.Errorf("review called %d times for a 101 switch, want 0", n)
	}
}

// TestUpstreamResponseReviewNotFor1xx: an informational 103 goes to the
// visitor unreviewed; only the final response is reviewed.
func TestUpstreamResponseReviewNotFor1xx(t *testing.T) {
	e := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</app.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		io.WriteString(w, "ok")
	}, forward.Options{})
	var log reviewLog
	e.u.SetResponseReview(func(r *http.Request, status int, h http.Header) error {
		log.record(status, h)
		return nil
	})
	if status, body, _ := get(t, e.srv.Client(), e.url("/")); status != http.StatusOK || body != "ok" {
		t.Fatalf("got %d %q, want 200 ok", status, body)
	}
	if log.calls() != 1 || log.statuses[0] != http.StatusOK {
		t.Errorf("review saw statuses %v, want the final 200 alone", log.statuses)
	}
}
