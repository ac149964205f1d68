package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/admin"
	"github.com/sshgress/sshgress/core/admin/admintest"
	"github.com/sshgress/sshgress/core/events"
)

// eventsCLI serves the real API handler with an event bus over real HTTP
// and runs `sshgress admin events` (with extra flags) against it; it
// returns the bus, the API, stdout's lines and the exit status once it
// ends.
func eventsCLI(t *testing.T, token string, flags ...string) (*events.Bus, *admin.API, <-chan string, <-chan int, *strings.Builder) {
	t.Helper()
	st := admintest.New()
	bus := events.NewBus()
	api, err := admin.New(admin.Config{Store: st, Tunnels: st, OperatorToken: testOperatorToken, BaseDomain: "tunnel.test", Events: bus})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	t.Cleanup(api.EndStreams)
	pr, pw := io.Pipe()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	stderr := &strings.Builder{}
	exit := make(chan int, 1)
	args := append([]string{"--addr", srv.URL, "--token", token}, flags...)
	go func() {
		exit <- runAdmin(append(args, "events"), strings.NewReader(""), pw, stderr)
		pw.Close()
	}()
	return bus, api, lines, exit, stderr
}

// streamOpen publishes a plugin.restarted event until the CLI prints one
// (its stream is subscribed), bounded.
func streamOpen(t *testing.T, bus *events.Bus, lines <-chan string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case l := <-lines:
			if strings.Contains(l, "plugin.restarted") {
				return
			}
			t.Fatalf("first line %q, want the warm-up plugin.restarted", l)
		case <-tick.C:
			bus.Publish(events.Event{Type: events.PluginRestarted, Plugin: "warmup", Restarts: 1})
		case <-deadline:
			t.Fatal("sshgress admin events printed nothing within 10s")
		}
	}
}

// next returns the next line that is not a warm-up event, bounded.
func next(t *testing.T, lines <-chan string) string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("sshgress admin events ended its output")
			}
			if strings.Contains(l, "warmup") {
				continue
			}
			return l
		case <-deadline:
			t.Fatal("no line from sshgress admin events within 10s")
		}
	}
}

// TestAdminEventsCLI: `sshgress admin events` prints each event of the
// stream as one line of key=value fields, in order, and exits 1 saying so
// when the edge ends the stream.
func TestAdminEventsCLI(t *testing.T) {
	bus, api, lines, exit, stderr := eventsCLI(t, testOperatorToken)
	streamOpen(t, bus, lines)
	at := time.Date(2026, 12, 3, 18, 0, 0, 0, time.UTC)
	bus.Publish(events.Event{Time: at, Type: events.TunnelOpened, Account: "ann", TunnelID: "t1", TunnelType: "http",
		URL: "https://app.tunnel.test", ClientAddr: "192.0.2.7:5555"})
	bus.Publish(events.Event{Time: at, Type: events.TunnelClosed, Account: "ann", TunnelID: "t1", TunnelType: "http",
		URL: "https://app.tunnel.test", Reason: events.ReasonTakenOver})
	for _, want := range []string{
		"2026-12-03T18:00:00Z tunnel.opened account=ann tunnel=t1 type=http url=https://app.tunnel.test client=192.0.2.7:5555",
		"2026-12-03T18:00:00Z tunnel.closed account=ann tunnel=t1 type=http url=https://app.tunnel.test reason=taken_over",
	} {
		if got := next(t, lines); got != want {
			t.Errorf("line\n got %q\nwant %q", got, want)
		}
	}
	api.EndStreams()
	select {
	case code := <-exit:
		if code != 1 || !strings.Contains(stderr.String(), "the edge ended the event stream") {
			t.Errorf("after the stream ended: exit %d, stderr %q; want 1 saying so", code, stderr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("sshgress admin events still runs 10s after the stream ended")
	}
}

// TestAdminEventsCLIJSON: with --json each line is the event's JSON as
// the edge sent it; a bad token is a clear error, exit 1.
func TestAdminEventsCLIJSON(t *testing.T) {
	bus, _, lines, _, _ := eventsCLI(t, testOperatorToken, "--json")
	streamOpen(t, bus, lines)
	bus.Publish(events.Event{Type: events.AuthFailures, Source: "203.0.113.9", Failures: 20, Window: "1m0s", Penalty: "1m0s"})
	var ev events.Event
	if l := next(t, lines); json.Unmarshal([]byte(l), &ev) != nil || ev.Type != events.AuthFailures || ev.Source != "203.0.113.9" || ev.ID == "" {
		t.Errorf("--json line %q is not the auth.failures event", l)
	}

	_, _, _, exit, stderr := eventsCLI(t, "wrong-token-0123456789")
	select {
	case code := <-exit:
		if code != 1 || !strings.Contains(stderr.String(), "the request needs a valid token") {
			t.Errorf("bad token: exit %d, stderr %q", code, stderr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("sshgress admin events with a bad token still runs after 10s")
	}
}

// FuzzScanEvents: any stream is read without a panic, and an event's
// data written as data: lines comes back whole, whatever surrounds it.
func FuzzScanEvents(f *testing.F) {
	f.Add(": sshgress events\n\n: heartbeat\n\n", `{"type":"tunnel.opened"}`)
	f.Add("id: 1\nevent: x\ndata:\n\n", "a")
	f.Add("data: a\r\ndata: b\n", "{}")
	f.Fuzz(func(t *testing.T, before, data string) {
		if len(before) > maxEventLine || len(data) > maxEventLine {
			return
		}
		scanEvents(strings.NewReader(before), func() {}, func(string) error { return nil })
		if strings.ContainsAny(data, "\r\n") || data == "" {
			return
		}
		var got []string
		err := scanEvents(strings.NewReader(": heartbeat\n\nid: 7\nevent: e\ndata: "+data+"\n\n"), func() {},
			func(d string) error { got = append(got, d); return nil })
		if err != nil || len(got) != 1 || got[0] != strings.TrimPrefix(data, " ") && got[0] != data {
			t.Fatalf("data %q came back as %q, %v", data, got, err)
		}
	})
}
