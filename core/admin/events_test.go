package admin_test

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/admin"
	"github.com/sshgress/sshgress/core/admin/admintest"
	"github.com/sshgress/sshgress/core/events"
)

// streamServer serves the API with an event bus on a real HTTP server
// whose read and write timeouts are short, as the edge's admin server's
// are (30 s there).
func streamServer(t *testing.T, timeout, heartbeat time.Duration) (*httptest.Server, *events.Bus, *admin.API) {
	t.Helper()
	st := admintest.New()
	bus := events.NewBus()
	api, err := admin.New(admin.Config{Store: st, Tunnels: st, OperatorToken: opToken, BaseDomain: "tunnel.test",
		Events: bus, StreamHeartbeat: heartbeat})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(api)
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = timeout, timeout
	srv.Config.RegisterOnShutdown(api.EndStreams)
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(api.EndStreams)
	return srv, bus, api
}

// openStream opens GET /api/v1/events and returns its lines.
func openStream(t *testing.T, srv *httptest.Server) (*http.Response, <-chan string) {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL+"/api/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+opToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	lines := make(chan string, 1000)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return resp, lines
}

// TestEventStreamOutlivesServerTimeouts: a stream stays open past the
// server's read and write timeouts (lifted for it), sends heartbeats
// while quiet, and still delivers an event published after them.
func TestEventStreamOutlivesServerTimeouts(t *testing.T) {
	srv, bus, _ := streamServer(t, 150*time.Millisecond, 40*time.Millisecond)
	resp, lines := openStream(t, srv)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /api/v1/events: %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	// Wait out several of the server's timeouts, counting heartbeats.
	heartbeats := 0
	quiet := time.After(600 * time.Millisecond)
wait:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the stream ended after %d heartbeats, within the server's timeouts", heartbeats)
			}
			if l == ": heartbeat" {
				heartbeats++
			}
		case <-quiet:
			break wait
		}
	}
	if heartbeats == 0 {
		t.Errorf("no heartbeat in a quiet stream")
	}
	bus.Publish(events.Event{Type: events.TunnelOpened, Account: "ann", TunnelID: "t1"})
	deadline := time.After(10 * time.Second)
	var got []string
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the stream ended before the event; lines %q", got)
			}
			got = append(got, l)
			if strings.HasPrefix(l, "data: ") {
				if !strings.Contains(l, `"type":"tunnel.opened"`) || !strings.Contains(l, `"tunnel_id":"t1"`) {
					t.Errorf("data line %q, want the tunnel.opened event", l)
				}
				if len(got) < 3 || got[len(got)-2] != "event: tunnel.opened" || !strings.HasPrefix(got[len(got)-3], "id: ") {
					t.Errorf("lines before the data: %q, want id: and event: lines", got)
				}
				return
			}
		case <-deadline:
			t.Fatalf("no event within 10s; lines %q", got)
		}
	}
}

// TestEventStreamLimit: beyond MaxStreams open streams a new one gets
// 429 with a sentence.
func TestEventStreamLimit(t *testing.T) {
	srv, _, _ := streamServer(t, 10*time.Second, time.Second)
	var open []*http.Response
	for range admin.MaxStreams {
		resp, lines := openStream(t, srv)
		if resp.StatusCode != 200 {
			t.Fatalf("stream %d: %s", len(open)+1, resp.Status)
		}
		<-lines // its first line: the handler holds its slot
		open = append(open, resp)
	}
	st, body := call(t, srv, opToken, "GET", "/api/v1/events", "")
	if st != http.StatusTooManyRequests || !strings.Contains(body, "event streams are open already") {
		t.Fatalf("stream %d: %d %s, want 429 saying why", admin.MaxStreams+1, st, body)
	}
}
