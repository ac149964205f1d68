package e2e_test

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/config"
	"github.com/sshgress/sshgress/e2e"
)

// The events suite: the operator's webhook (a net/http receiver run by
// the test, which checks every signature itself) and the admin API's
// server-sent event stream, with tunnels opened and closed by the real
// OpenSSH client.

// event is the events' JSON as a receiver reads it (core/events.Event).
type event struct {
	ID         string    `json:"id"`
	Time       time.Time `json:"time"`
	Type       string    `json:"type"`
	Account    string    `json:"account"`
	TunnelID   string    `json:"tunnel_id"`
	TunnelType string    `json:"tunnel_type"`
	URL        string    `json:"url"`
	ClientAddr string    `json:"client_addr"`
	Key        string    `json:"key"`
	Reason     string    `json:"reason"`
	Source     string    `json:"source"`
	Failures   int       `json:"failures"`
	Plugin     string    `json:"plugin"`
	OpenTuns   int       `json:"open_tunnels"`
	Restarts   int       `json:"restarts"`
}

// eventWait bounds every wait for an event.
const eventWait = 15 * time.Second

// eventLog collects events in arrival order for a test to wait on.
type eventLog struct {
	mu     sync.Mutex
	events []event
	ended  bool
	wake   chan struct{}
}

func newEventLog() *eventLog { return &eventLog{wake: make(chan struct{}, 1)} }

func (l *eventLog) add(ev event) {
	l.mu.Lock()
	l.events = append(l.events, ev)
	l.mu.Unlock()
	l.poke()
}

func (l *eventLog) end() { l.mu.Lock(); l.ended = true; l.mu.Unlock(); l.poke() }

func (l *eventLog) poke() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func (l *eventLog) snapshot() ([]event, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]event(nil), l.events...), l.ended
}

// await waits, bounded, for an event of typ for tunnel id (any tunnel
// when id is "") and returns it.
func (l *eventLog) await(t *testing.T, what, typ, id string) event {
	t.Helper()
	return l.awaitFn(t, fmt.Sprintf("%s: a %s event for tunnel %q", what, typ, id), func(ev event) bool {
		return ev.Type == typ && (id == "" || ev.TunnelID == id)
	})
}

// awaitFn waits, bounded, for the first event that match accepts.
func (l *eventLog) awaitFn(t *testing.T, what string, match func(event) bool) event {
	t.Helper()
	deadline := time.After(eventWait)
	for {
		evs, _ := l.snapshot()
		for _, ev := range evs {
			if match(ev) {
				return ev
			}
		}
		select {
		case <-l.wake:
		case <-deadline:
			t.Fatalf("waiting %s for %s; got %+v", eventWait, what, evs)
		}
	}
}

// byTunnel is the types of the events of tunnel id, in arrival order.
func (l *eventLog) byTunnel(id string) []string {
	evs, _ := l.snapshot()
	var out []string
	for _, ev := range evs {
		if ev.TunnelID == id {
			out = append(out, ev.Type+"/"+ev.Reason)
		}
	}
	return out
}

const hookSecret = "e2e-webhook-secret-0123456789"

// webhookReceiver is the operator's receiver: it checks the signature
// (HMAC-SHA256 of "timestamp.body", computed here, not by the edge's
// code), refuses stale timestamps, and answers 503 to the first failFirst
// attempts.
func webhookReceiver(t *testing.T, failFirst int) (*httptest.Server, *eventLog, func() (attempts, badSig int)) {
	t.Helper()
	log := newEventLog()
	var mu sync.Mutex
	attempts, bad := 0, 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		ts := r.Header.Get("X-Sshgress-Timestamp")
		mac := hmac.New(sha256.New, []byte(hookSecret))
		mac.Write([]byte(ts + "." + string(body)))
		want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
		sec, tsErr := strconv.ParseInt(ts, 10, 64)
		mu.Lock()
		attempts++
		n := attempts
		if tsErr != nil || time.Since(time.Unix(sec, 0)) > 5*time.Minute ||
			!hmac.Equal([]byte(r.Header.Get("X-Sshgress-Signature")), []byte(want)) {
			bad++
			mu.Unlock()
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Unlock()
		if n <= failFirst {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var ev event
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("webhook body is not an event: %v: %s", err, body)
		}
		if got := r.Header.Get("X-Sshgress-Event"); got != ev.Type {
			t.Errorf("X-Sshgress-Event %q, body's type %q", got, ev.Type)
		}
		log.add(ev)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv, log, func() (int, int) { mu.Lock(); defer mu.Unlock(); return attempts, bad }
}

// TestEventsWebhook: a tunnel opened and closed with OpenSSH reaches the
// operator's webhook as tunnel.opened then tunnel.closed (client_closed),
// signed; the receiver fails the first attempts and still gets them,
// in order; a tunnel open when the edge shuts down is reported closed
// with reason shutdown before Shutdown returns.
func TestEventsWebhook(t *testing.T) {
	t.Parallel()
	e2e.RequireSSH(t)
	_, port := backend(t)
	hook, log, stats := webhookReceiver(t, 2)
	key := e2e.NewKey(t, t.TempDir(), "ann")
	edge := e2e.StartEdge(t, e2e.EdgeOptions{Configure: func(c *config.Config) {
		c.Accounts = []config.Account{{Name: "ann", Keys: []string{key.AuthorizedKey}}}
		c.Events.Webhook.URL = hook.URL + "/sshgress"
		c.Events.Webhook.Secret = hookSecret
		c.Events.Webhook.Backoff = 20 * time.Millisecond
	}})

	s := edge.RunSSH(t, key, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http")
	url := s.URL(t)
	opened := log.await(t, "after ssh -R", "tunnel.opened", "")
	if opened.URL != url || opened.Account != "ann" || opened.TunnelType != "http" ||
		!strings.HasPrefix(opened.ClientAddr, "127.0.0.1:") || !strings.HasPrefix(opened.Key, "SHA256:") || opened.ID == "" {
		t.Errorf("tunnel.opened is %+v, want ann's http tunnel at %s from 127.0.0.1 with its key's fingerprint", opened, url)
	}
	s.Kill()
	closed := log.await(t, "after the ssh client exited", "tunnel.closed", opened.TunnelID)
	if closed.Reason != "client_closed" || closed.URL != url || closed.ID == opened.ID {
		t.Errorf("tunnel.closed is %+v, want reason client_closed for %s with an id of its own", closed, url)
	}
	if got := log.byTunnel(opened.TunnelID); strings.Join(got, " ") != "tunnel.opened/ tunnel.closed/client_closed" {
		t.Errorf("events of tunnel %s in order: %q, want opened then closed", opened.TunnelID, got)
	}
	if attempts, bad := stats(); bad != 0 || attempts < 4 {
		t.Errorf("%d attempts (%d with a bad signature), want the 2 failed ones retried and none bad", attempts, bad)
	}

	s2 := edge.RunSSH(t, key, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http")
	s2.URL(t)
	second := log.awaitFn(t, "the second tunnel's tunnel.opened", func(ev event) bool {
		return ev.Type == "tunnel.opened" && ev.TunnelID != opened.TunnelID
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := edge.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	evs, _ := log.snapshot()
	var reasons []string
	for _, ev := range evs {
		if ev.Type == "tunnel.closed" && ev.TunnelID == second.TunnelID {
			reasons = append(reasons, ev.Reason)
		}
	}
	if strings.Join(reasons, ",") != "shutdown" {
		t.Errorf("after Shutdown the receiver holds closes %q for the second tunnel, want [shutdown]; all: %+v", reasons, evs)
	}
}

// sseStream reads GET /api/v1/events with token into an eventLog until
// the stream ends; the first line tells it is open.
func sseStream(t *testing.T, edge *e2e.Edge, token string) *eventLog {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+edge.AdminAddr().String()+"/api/v1/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req = req.WithContext(ctx)
	req.Header.Set("Authorization", "Bearer "+token)
	// No client timeout: a stream lasts; each wait on it is bounded by
	// eventLog.await, and cancel ends it.
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		t.Fatalf("GET /api/v1/events: %v", err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("GET /api/v1/events: %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	log := newEventLog()
	go func() {
		defer resp.Body.Close()
		defer log.end()
		sc := bufio.NewScanner(resp.Body)
		var typ string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				typ = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				var ev event
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev); err != nil || ev.Type != typ {
					t.Errorf("stream data %q (event: %q): %v", line, typ, err)
				}
				log.add(ev)
			}
		}
	}()
	return log
}

// TestEventsStream: the admin API's event stream, over real HTTP, shows
// the operator every tunnel's opened and closed events (the close an
// operator's DELETE caused says ended_by_operator, the one a key removal
// caused key_revoked); an account token's stream shows its own account's
// only.
func TestEventsStream(t *testing.T) {
	t.Parallel()
	_, port := backend(t)
	edge, _ := adminEdge(t, nil)
	op := operatorAPI(t, edge)
	carolKey, _ := newAccountWithKey(t, op, "carol")
	daveKey, daveK := newAccountWithKey(t, op, "dave")
	var tok struct{ Token string }
	op.must(t, http.StatusCreated, "POST", "/api/v1/accounts/carol/tokens", nil, &tok)

	all := sseStream(t, edge, op.token)
	carol := sseStream(t, edge, tok.Token)

	ds := runSSHOnceAccepted(t, edge, daveKey, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http")
	daveURL := ds.URL(t)
	daveOpened := all.await(t, "dave's tunnel", "tunnel.opened", "")
	if daveOpened.Account != "dave" || daveOpened.URL != daveURL {
		t.Fatalf("operator's stream: %+v, want dave's tunnel at %s", daveOpened, daveURL)
	}
	op.must(t, http.StatusNoContent, "DELETE", "/api/v1/accounts/dave/keys/"+daveK.ID, nil, nil)
	if ev := all.await(t, "dave's key removed", "tunnel.closed", daveOpened.TunnelID); ev.Reason != "key_revoked" {
		t.Errorf("dave's tunnel.closed after his key was removed: reason %q, want key_revoked", ev.Reason)
	}

	cs := runSSHOnceAccepted(t, edge, carolKey, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http")
	carolURL := cs.URL(t)
	carolOpened := carol.await(t, "carol's tunnel on her stream", "tunnel.opened", "")
	if carolOpened.Account != "carol" || carolOpened.URL != carolURL {
		t.Fatalf("carol's stream: %+v, want her tunnel at %s", carolOpened, carolURL)
	}
	op.must(t, http.StatusNoContent, "DELETE", "/api/v1/tunnels/"+carolOpened.TunnelID, nil, nil)
	for name, l := range map[string]*eventLog{"operator's": all, "carol's": carol} {
		if ev := l.await(t, name+" stream after the DELETE", "tunnel.closed", carolOpened.TunnelID); ev.Reason != "ended_by_operator" {
			t.Errorf("%s stream: carol's tunnel.closed reason %q, want ended_by_operator", name, ev.Reason)
		}
		if got := strings.Join(l.byTunnel(carolOpened.TunnelID), " "); got != "tunnel.opened/ tunnel.closed/ended_by_operator" {
			t.Errorf("%s stream: carol's tunnel's events %q, want opened then closed", name, got)
		}
	}
	evs, _ := carol.snapshot()
	for _, ev := range evs {
		if ev.Account != "carol" {
			t.Errorf("carol's stream shows %s event of account %q: %+v", ev.Type, ev.Account, ev)
		}
	}
	if got := strings.Join(all.byTunnel(daveOpened.TunnelID), " "); got != "tunnel.opened/ tunnel.closed/key_revoked" {
		t.Errorf("operator's stream: dave's events %q", got)
	}
}

// TestEventsStreamEndsOnShutdown: an open event stream does not hold the
// admin server's Shutdown up, and its client sees the stream end.
func TestEventsStreamEndsOnShutdown(t *testing.T) {
	t.Parallel()
	edge, _ := adminEdge(t, nil)
	op := operatorAPI(t, edge)
	stream := sseStream(t, edge, op.token)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := edge.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with an event stream open: %v", err)
	}
	deadline := time.After(eventWait)
	for {
		if _, ended := stream.snapshot(); ended {
			break
		}
		select {
		case <-stream.wake:
		case <-deadline:
			t.Fatalf("the event stream still runs %s after Shutdown returned", eventWait)
		}
	}
}

// TestEventsAuthFailures: a source whose failed logins (unknown keys,
// with the real OpenSSH client) reach limits.failures_before_penalty is
// reported once as auth.failures with its address and the threshold —
// no key, no user name.
func TestEventsAuthFailures(t *testing.T) {
	t.Parallel()
	edge, _ := adminEdge(t, func(c *config.Config) { c.Limits.FailuresBeforePenalty = 2 })
	op := operatorAPI(t, edge)
	all := sseStream(t, edge, op.token)
	stranger := e2e.NewKey(t, t.TempDir(), "stranger")
	for i := range 2 {
		s := edge.RunSSH(t, stranger, "-R", "80:localhost:1", "v2@127.0.0.1", "http")
		if code := s.Wait(10 * time.Second); code == 0 {
			t.Fatalf("login %d with an unknown key succeeded", i+1)
		}
	}
	ev := all.await(t, "after 2 failed logins", "auth.failures", "")
	if ev.Source != "127.0.0.1" || ev.Failures != 2 || ev.Account != "" || ev.Key != "" {
		t.Errorf("auth.failures is %+v, want source 127.0.0.1 over the threshold 2, with no account or key", ev)
	}
}

// TestEventsPluginCrash: killing the basic-auth plugin's process, with a
// tunnel it protects open, shows plugin.crashed (with that tunnel counted)
// and then plugin.restarted on the operator's stream. Not parallel: it
// finds the plugin's process by its command line.
func TestEventsPluginCrash(t *testing.T) {
	edge := authEdge(t, nil)
	bin := e2e.SharedBinary(t)
	op := operatorAPI(t, edge)
	all := sseStream(t, edge, op.token)
	_, port := backend(t)
	key := e2e.NewKey(t, t.TempDir(), "id")
	s := edge.RunSSH(t, key, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http", "--basic-auth", "ann:correct-horse")
	s.URL(t)
	pids := e2e.Processes(bin, "plugin", "basicauth")
	if len(pids) != 1 {
		t.Fatalf("%d basicauth processes, want 1", len(pids))
	}
	syscall.Kill(pids[0], syscall.SIGKILL)
	crashed := all.await(t, "after killing the plugin", "plugin.crashed", "")
	restarted := all.await(t, "after the plugin's restart", "plugin.restarted", "")
	if crashed.Plugin != "basicauth" || crashed.OpenTuns != 1 {
		t.Errorf("plugin.crashed is %+v, want basicauth with 1 open tunnel", crashed)
	}
	if restarted.Plugin != "basicauth" || restarted.Restarts != 1 {
		t.Errorf("plugin.restarted is %+v, want basicauth's first restart", restarted)
	}
	var order []string
	evs, _ := all.snapshot()
	for _, ev := range evs {
		if strings.HasPrefix(ev.Type, "plugin.") {
			order = append(order, ev.Type)
		}
	}
	if strings.Join(order, " ") != "plugin.crashed plugin.restarted" {
		t.Errorf("plugin events in order: %q, want crashed then restarted", order)
	}
}

// TestEventsTakeover: a newer connection with the same key that binds
// the name an older one holds takes it over; the older tunnel's
// tunnel.closed says taken_over, and the newer one's tunnel.opened
// carries the same URL.
func TestEventsTakeover(t *testing.T) {
	t.Parallel()
	e2e.RequireSSH(t)
	_, port := backend(t)
	edge := e2e.StartEdge(t, e2e.EdgeOptions{})
	op := operatorAPI(t, edge)
	all := sseStream(t, edge, op.token)
	key := e2e.NewKey(t, t.TempDir(), "id")
	old := edge.RunSSH(t, key, "-R", "dup:80:localhost:"+port, "v2@127.0.0.1", "http")
	url := old.URL(t)
	first := all.await(t, "the first connection", "tunnel.opened", "")
	s := edge.RunSSH(t, key, "-R", "dup:80:localhost:"+port, "v2@127.0.0.1", "http")
	if got := s.URL(t); got != url {
		t.Fatalf("the newer connection got %s, want the name back: %s", got, url)
	}
	if ev := all.await(t, "the takeover", "tunnel.closed", first.TunnelID); ev.Reason != "taken_over" {
		t.Errorf("the older tunnel's tunnel.closed: reason %q, want taken_over", ev.Reason)
	}
	second := all.awaitFn(t, "the newer tunnel's tunnel.opened", func(ev event) bool {
		return ev.Type == "tunnel.opened" && ev.TunnelID != first.TunnelID
	})
	if second.URL != url {
		t.Errorf("the newer tunnel.opened has URL %q, want %q", second.URL, url)
	}
}

// TestEventsWebhookQueueFullCounts: a receiver that does not answer holds
// the webhook's one sender; with events.webhook.queue 1 the events beyond
// are dropped, tunnels keep opening and closing, and /metrics counts the
// drops.
func TestEventsWebhookQueueFullCounts(t *testing.T) {
	t.Parallel()
	e2e.RequireSSH(t)
	_, port := backend(t)
	hold := make(chan struct{})
	stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hold:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(stuck.Close)
	key := e2e.NewKey(t, t.TempDir(), "ann")
	edge := e2e.StartEdge(t, e2e.EdgeOptions{Configure: func(c *config.Config) {
		c.Events.Webhook.URL = stuck.URL
		c.Events.Webhook.Secret = hookSecret
		c.Events.Webhook.Queue = 1
	}})
	t.Cleanup(func() { close(hold) }) // before the edge's shutdown, which drains the webhook
	const series = `sshgress_events_dropped_total{reason="queue_full",sink="webhook"}`
	for i := range 3 {
		s := edge.RunSSH(t, key, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http")
		url := s.URL(t)
		if st, _ := edge.Get(t, url+"/"); st != 200 {
			t.Fatalf("tunnel %d: GET %s: %d with the webhook stuck", i, url, st)
		}
		s.Kill()
		waitExit(t, s, time.Now(), "after kill")
	}
	// 6 events: one held by the stuck receiver, one queued, the rest
	// dropped; the last close may still be on its way, so wait (bounded).
	deadline := time.Now().Add(eventWait)
	for {
		_, body := scrape(t, edge, "/metrics")
		if got := sample(body, series); got >= 3 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("%s = %v after 6 events with the receiver stuck and a queue of 1, want at least 3", series, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
