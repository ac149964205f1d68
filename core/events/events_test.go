package events

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// wait is the bound of every wait in these tests.
const wait = 10 * time.Second

// TestBusFullQueueDropsAndCounts: a subscriber that does not read keeps
// the first events its queue holds, in order; Publish does not wait for
// it, and every event beyond is dropped and counted, for it alone.
func TestBusFullQueueDropsAndCounts(t *testing.T) {
	bus := NewBus()
	var hook atomic.Int64
	slow := bus.Subscribe(SubscribeOptions{Queue: 2, OnDrop: func() { hook.Add(1) }})
	defer slow.Close()
	roomy := bus.Subscribe(SubscribeOptions{Queue: 16})
	defer roomy.Close()

	for i := range 5 {
		bus.Publish(Event{Type: TunnelOpened, TunnelID: strconv.Itoa(i)})
	}
	if got := slow.Dropped(); got != 3 {
		t.Errorf("slow subscriber dropped %d, want 3", got)
	}
	if got := hook.Load(); got != 3 {
		t.Errorf("OnDrop called %d times, want 3", got)
	}
	if got := roomy.Dropped(); got != 0 {
		t.Errorf("roomy subscriber dropped %d, want 0", got)
	}
	for i := range 2 {
		ev := <-slow.C()
		if ev.TunnelID != strconv.Itoa(i) || ev.ID == "" || ev.Time.IsZero() {
			t.Errorf("slow subscriber's event %d is %+v, want tunnel %d with an id and a time", i, ev, i)
		}
	}
	if len(roomy.C()) != 5 {
		t.Errorf("roomy subscriber holds %d events, want 5", len(roomy.C()))
	}
}

// TestBusAccountFilter: a subscription for one account sees that
// account's events only.
func TestBusAccountFilter(t *testing.T) {
	bus := NewBus()
	ann := bus.Subscribe(SubscribeOptions{Account: "ann"})
	all := bus.Subscribe(SubscribeOptions{})
	bus.Publish(Event{Type: TunnelOpened, Account: "bob"})
	bus.Publish(Event{Type: PluginCrashed, Plugin: "tcp"})
	bus.Publish(Event{Type: TunnelOpened, Account: "ann"})
	ann.Close()
	all.Close()
	ann.Close() // idempotent
	var got []string
	for ev := range ann.C() {
		got = append(got, ev.Account)
	}
	if len(got) != 1 || got[0] != "ann" {
		t.Errorf("ann's subscription saw accounts %q, want [ann]", got)
	}
	n := 0
	for range all.C() {
		n++
	}
	if n != 3 {
		t.Errorf("the operator's subscription saw %d events, want 3", n)
	}
	bus.Publish(Event{Type: TunnelOpened}) // no subscriber left: no panic
	var nilBus *Bus
	nilBus.Publish(Event{Type: TunnelOpened})
}

// receiver is a real HTTP webhook receiver that verifies each delivery's
// signature and answers with the statuses in fail first, then 204.
type receiver struct {
	srv    *httptest.Server
	secret string
	mu     sync.Mutex
	fail   []int
	tries  []string // delivery id per attempt
	got    []Event  // delivered (2xx) events, in order
	bad    []string // signature failures
	notify chan struct{}
}

func newReceiver(t *testing.T, secret string, fail ...int) *receiver {
	r := &receiver{secret: secret, fail: fail, notify: make(chan struct{}, 1000)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
		ok := Verify(secret, req.Header.Get(TimestampHeader), req.Header.Get(SignatureHeader), body, 5*time.Minute, time.Now())
		r.mu.Lock()
		defer func() { r.mu.Unlock(); r.notify <- struct{}{} }()
		r.tries = append(r.tries, req.Header.Get(DeliveryHeader))
		if !ok {
			r.bad = append(r.bad, string(body))
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if len(r.fail) > 0 {
			st := r.fail[0]
			r.fail = r.fail[1:]
			w.WriteHeader(st)
			return
		}
		var ev Event
		if err := json.Unmarshal(body, &ev); err != nil || req.Header.Get(EventHeader) != ev.Type {
			r.bad = append(r.bad, string(body))
		}
		r.got = append(r.got, ev)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// await waits until cond holds over the receiver's state, bounded.
func (r *receiver) await(t *testing.T, what string, cond func(*receiver) bool) {
	t.Helper()
	deadline := time.After(wait)
	for {
		r.mu.Lock()
		ok := cond(r)
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-r.notify:
		case <-deadline:
			r.mu.Lock()
			defer r.mu.Unlock()
			t.Fatalf("waiting for %s: attempts %q, delivered %+v, bad signatures %q", what, r.tries, r.got, r.bad)
		}
	}
}

// drops counts a webhook's drops by reason.
type drops struct {
	mu sync.Mutex
	n  map[string]int
}

func (d *drops) count(reason string) { d.mu.Lock(); d.n[reason]++; d.mu.Unlock() }
func (d *drops) get(reason string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.n[reason]
}

const testSecret = "0123456789abcdef-test-secret"

// TestWebhookRetriesThenDelivers: a receiver that fails the first two
// attempts (503, then 429) gets the event on the third, the same
// delivery id each time, signed each time; nothing is dropped.
func TestWebhookRetriesThenDelivers(t *testing.T) {
	r := newReceiver(t, testSecret, http.StatusServiceUnavailable, http.StatusTooManyRequests)
	bus := NewBus()
	d := &drops{n: map[string]int{}}
	w, err := StartWebhook(bus, WebhookConfig{URL: r.srv.URL + "/hook?token=x", Secret: testSecret, MaxAttempts: 5, Backoff: 5 * time.Millisecond, OnDrop: d.count})
	if err != nil {
		t.Fatal(err)
	}
	bus.Publish(Event{Type: TunnelOpened, Account: "ann", TunnelID: "t1"})
	r.await(t, "the third attempt's delivery", func(r *receiver) bool { return len(r.got) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	w.Close(ctx)
	if len(r.tries) != 3 || r.tries[0] != r.tries[1] || r.tries[1] != r.tries[2] || r.tries[0] != r.got[0].ID {
		t.Errorf("attempts carried delivery ids %q, want 3 attempts of event %s", r.tries, r.got[0].ID)
	}
	if r.got[0].TunnelID != "t1" || r.got[0].Account != "ann" || len(r.bad) > 0 {
		t.Errorf("delivered %+v, bad signatures %q", r.got[0], r.bad)
	}
	if n := d.get(DropUndeliverable) + d.get(DropQueueFull); n != 0 {
		t.Errorf("%d events dropped, want 0", n)
	}
}

// TestWebhookGivesUpAndCounts: after MaxAttempts failures the event is
// dropped and counted, and the next one is still sent; a 4xx other than
// 408/429 is not retried.
func TestWebhookGivesUpAndCounts(t *testing.T) {
	r := newReceiver(t, testSecret, 500, 502, 400)
	bus := NewBus()
	d := &drops{n: map[string]int{}}
	w, err := StartWebhook(bus, WebhookConfig{URL: r.srv.URL, Secret: testSecret, MaxAttempts: 2, Backoff: time.Millisecond, OnDrop: d.count})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(context.Background())
	bus.Publish(Event{Type: TunnelOpened, TunnelID: "lost"})     // 500, 502: given up
	bus.Publish(Event{Type: TunnelOpened, TunnelID: "refused"})  // 400: not retried
	bus.Publish(Event{Type: TunnelClosed, TunnelID: "received"}) // 204
	r.await(t, "the third event", func(r *receiver) bool { return len(r.got) == 1 })
	if len(r.tries) != 4 {
		t.Errorf("%d attempts, want 4 (2 for the first event, 1 each for the others)", len(r.tries))
	}
	if r.got[0].TunnelID != "received" {
		t.Errorf("delivered %+v, want the third event", r.got[0])
	}
	if n := d.get(DropUndeliverable); n != 2 {
		t.Errorf("%d events counted undeliverable, want 2", n)
	}
}

// TestWebhookInOrder: events reach the receiver in the order published,
// one at a time.
func TestWebhookInOrder(t *testing.T) {
	r := newReceiver(t, testSecret, 503) // the first one is retried: order still holds
	bus := NewBus()
	w, err := StartWebhook(bus, WebhookConfig{URL: r.srv.URL, Secret: testSecret, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	const n = 30
	for i := range n {
		bus.Publish(Event{Type: TunnelOpened, TunnelID: strconv.Itoa(i)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	w.Close(ctx) // sends what is queued first
	if len(r.got) != n {
		t.Fatalf("delivered %d events before Close returned, want %d", len(r.got), n)
	}
	for i, ev := range r.got {
		if ev.TunnelID != strconv.Itoa(i) {
			t.Fatalf("event %d delivered is tunnel %s, want %d", i, ev.TunnelID, i)
		}
	}
}

// TestVerify: the signature covers the timestamp and the body, and an
// old timestamp is refused.
func TestVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	body := []byte(`{"type":"tunnel.opened"}`)
	sig := Sign(testSecret, ts, body)
	for _, tc := range []struct {
		name       string
		secret, ts string
		body       []byte
		sig        string
		at         time.Time
		want       bool
	}{
		{"good", testSecret, ts, body, sig, now, true},
		{"other secret", "another-secret-0123", ts, body, sig, now, false},
		{"body changed", testSecret, ts, []byte(`{"type":"tunnel.closed"}`), sig, now, false},
		{"timestamp changed", testSecret, strconv.FormatInt(now.Unix()+1, 10), body, sig, now, false},
		{"replayed later", testSecret, ts, body, sig, now.Add(10 * time.Minute), false},
		{"no timestamp", testSecret, "", body, sig, now, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Verify(tc.secret, tc.ts, tc.sig, tc.body, 5*time.Minute, tc.at); got != tc.want {
				t.Errorf("Verify = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestStartWebhookRefuses: no secret, or a URL that is not http(s), is
// an error that quotes neither.
func TestStartWebhookRefuses(t *testing.T) {
	bus := NewBus()
	for _, cfg := range []WebhookConfig{
		{URL: "https://hooks.example.com/x"},
		{URL: "ftp://hooks.example.com/x", Secret: testSecret},
		{URL: "https:///nohost", Secret: testSecret},
	} {
		if w, err := StartWebhook(bus, cfg); err == nil {
			w.Close(context.Background())
			t.Errorf("StartWebhook(%q) succeeded", cfg.URL)
		}
	}
}
