package pluginhost

import (
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sshgress/sshgress/sdk"
)

// epoch is the fake clock's start; the tests pass times explicitly.
var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// TestRateLimit: 5/1m lets five requests of one address through, then
// refuses with a Retry-After that counts down as tokens refill; another
// address has its own bucket; the owner hears once per burst of refusals.
func TestRateLimit(t *testing.T) {
	tab := newRateTable("ratelimit", sdk.RateLimit{Requests: 5, Period: time.Minute})
	ann, bob := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	for i := range 5 {
		if ok, _, _ := tab.allow(nil, ann, epoch); !ok {
			t.Fatalf("request %d of 5 refused", i+1)
		}
	}
	ok, retry, notice := tab.allow(nil, ann, epoch)
	if ok || retryAfter(retry) != 12*time.Second {
		t.Fatalf("6th request: ok=%v retry=%v, want refused with 12s (one token per 12s)", ok, retry)
	}
	if want := "Rate limit 5/1m reached by 192.0.2.1: its requests get 429"; !strings.Contains(notice, want) {
		t.Errorf("notice %q lacks %q", notice, want)
	}
	if _, retry, notice := tab.allow(nil, ann, epoch.Add(5*time.Second)); retryAfter(retry) != 7*time.Second || notice != "" {
		t.Errorf("7th request 5s later: retry=%v notice=%q, want 7s and no second line", retry, notice)
	}
	if ok, _, _ := tab.allow(nil, bob, epoch); !ok {
		t.Error("another address was refused: buckets are per address")
	}
	if ok, _, _ := tab.allow(nil, ann, epoch.Add(12*time.Second)); !ok {
		t.Error("a request 12s later was refused: a token should be back")
	}
}

// TestRateLimitQuietThenTell: after a Period without refusals the owner is
// told again.
func TestRateLimitQuietThenTell(t *testing.T) {
	tab := newRateTable("ratelimit", sdk.RateLimit{Requests: 1, Period: time.Minute})
	a := netip.MustParseAddr("192.0.2.1")
	tab.allow(nil, a, epoch)
	if _, _, n := tab.allow(nil, a, epoch); n == "" {
		t.Fatal("first refusal told nothing")
	}
	tab.allow(nil, a, epoch.Add(2*time.Minute))
	if _, _, n := tab.allow(nil, a, epoch.Add(2*time.Minute)); n == "" {
		t.Fatal("a refusal after two quiet minutes told nothing")
	}
}

// TestRateLimitKeys: a header key separates callers from one address and
// never shows the value; a request without it counts by address; IPv6
// addresses count by /64; the table never holds more than its cap.
func TestRateLimitKeys(t *testing.T) {
	tab := newRateTable("ratelimit", sdk.RateLimit{Requests: 1, Period: time.Hour, KeyHeader: "X-Api-Key"})
	a := netip.MustParseAddr("192.0.2.1")
	k1 := http.Header{"X-Api-Key": {"secret-one"}}
	k2 := http.Header{"X-Api-Key": {"secret-two"}}
	if ok, _, _ := tab.allow(k1, a, epoch); !ok {
		t.Fatal("first key refused")
	}
	if ok, _, _ := tab.allow(k2, a, epoch); !ok {
		t.Fatal("second key from the same address refused: keys are per header value")
	}
	ok, _, notice := tab.allow(k1, a, epoch)
	if ok {
		t.Fatal("first key's second request allowed")
	}
	if strings.Contains(notice, "secret") || !strings.Contains(notice, "a caller (by its X-Api-Key header)") {
		t.Errorf("notice %q: want the header's name, never its value", notice)
	}
	if ok, _, _ := tab.allow(nil, a, epoch); !ok {
		t.Error("a request without the header was refused: it counts by address")
	}
	long := http.Header{"X-Api-Key": {strings.Repeat("x", sdk.MaxRateLimitKeyBytes) + "tail-1"}}
	long2 := http.Header{"X-Api-Key": {strings.Repeat("x", sdk.MaxRateLimitKeyBytes) + "tail-2"}}
	tab.allow(long, a, epoch)
	if ok, _, _ := tab.allow(long2, a, epoch); ok {
		t.Error("values equal in their first MaxRateLimitKeyBytes are different callers: the value is not length-capped")
	}

	v6 := newRateTable("ratelimit", sdk.RateLimit{Requests: 1, Period: time.Hour})
	v6.allow(nil, netip.MustParseAddr("2001:db8:1:2::1"), epoch)
	if ok, _, _ := v6.allow(nil, netip.MustParseAddr("2001:db8:1:2::ffff"), epoch); ok {
		t.Error("a second address of the same /64 got its own bucket")
	}
	if ok, _, _ := v6.allow(nil, netip.MustParseAddr("2001:db8:1:3::1"), epoch); !ok {
		t.Error("another /64 was refused")
	}

	for i := range sdk.MaxRateLimitKeys + 50 {
		tab.allow(http.Header{"X-Api-Key": {"k" + string(rune(i))}}, a, epoch)
	}
	if n := tab.keys.Len(); n > sdk.MaxRateLimitKeys {
		t.Errorf("table holds %d callers, more than %d", n, sdk.MaxRateLimitKeys)
	}
}

// TestBreaker drives the breaker with a fake clock: below the volume it
// does not trip; at the ratio it trips, refuses for Tripped, lets one
// probe through, re-trips on a 5xx probe and closes on a good one.
func TestBreaker(t *testing.T) {
	var lines []string
	var mu sync.Mutex
	b := newBreaker("ratelimit", sdk.CircuitBreaker{Ratio: 0.5})
	b.notify = func(s string) { mu.Lock(); lines = append(lines, s); mu.Unlock() }
	if b.cfg.Volume != 10 || b.cfg.Window != 10*time.Second || b.cfg.Tripped != 10*time.Second {
		t.Fatalf("defaults %+v, want ngrok's 10 requests, 10s, 10s", b.cfg)
	}
	now := epoch
	for range 9 {
		b.observe(500, now)
	}
	if ok, _ := b.allow(now); !ok {
		t.Fatal("tripped below the volume threshold (9 of 10)")
	}
	b.observe(200, now) // 10 responses, 9 failed
	if ok, _ := b.allow(now); !ok {
		t.Fatal("tripped on a success")
	}
	b.observe(500, now) // 11 responses, 10 failed
	ok, wait := b.allow(now.Add(3 * time.Second))
	if ok || retryAfter(wait) != 7*time.Second {
		t.Fatalf("after 10 of 11 5xx: ok=%v wait=%v, want refused for 7 more seconds", ok, wait)
	}
	if len(lines) != 1 || !strings.Contains(lines[0], "Circuit breaker tripped: 10 of the last 11 responses in 10s were 5xx") {
		t.Fatalf("owner lines %q, want one trip line", lines)
	}
	b.observe(500, now.Add(time.Second)) // in flight before the trip: ignored
	if ok, _ := b.allow(now.Add(10 * time.Second)); !ok {
		t.Fatal("no probe after the trip time")
	}
	if ok, _ := b.allow(now.Add(10 * time.Second)); ok {
		t.Fatal("a second request went through while the probe is out")
	}
	b.observe(502, now.Add(11*time.Second)) // the probe failed: open again
	if ok, _ := b.allow(now.Add(15 * time.Second)); ok {
		t.Fatal("a failed probe did not re-trip the breaker")
	}
	if ok, _ := b.allow(now.Add(21 * time.Second)); !ok {
		t.Fatal("no second probe")
	}
	b.observe(200, now.Add(21*time.Second))
	for i := range 20 {
		if ok, _ := b.allow(now.Add(21 * time.Second)); !ok {
			t.Fatalf("request %d after a good probe refused", i)
		}
	}
	if len(lines) != 2 || !strings.Contains(lines[1], "Circuit breaker closed: your service answered 200 again") {
		t.Fatalf("owner lines %q, want the trip line and one close line", lines)
	}
}

// TestBreakerWindow: failures older than the window do not count, and a
// probe that never answers is replaced after Tripped.
func TestBreakerWindow(t *testing.T) {
	b := newBreaker("ratelimit", sdk.CircuitBreaker{Ratio: 1, Volume: 3, Window: time.Second, Tripped: time.Second})
	b.observe(500, epoch)
	b.observe(500, epoch)
	b.observe(500, epoch.Add(1500*time.Millisecond)) // the first two slid out
	if ok, _ := b.allow(epoch.Add(1500 * time.Millisecond)); !ok {
		t.Fatal("tripped on failures outside the window")
	}
	b.observe(500, epoch.Add(1600*time.Millisecond))
	b.observe(500, epoch.Add(1700*time.Millisecond))
	if ok, _ := b.allow(epoch.Add(1700 * time.Millisecond)); ok {
		t.Fatal("3 of 3 failures in the window did not trip at ratio 1")
	}
	probe := epoch.Add(2700 * time.Millisecond)
	if ok, _ := b.allow(probe); !ok {
		t.Fatal("no probe")
	}
	if ok, _ := b.allow(probe.Add(500 * time.Millisecond)); ok {
		t.Fatal("second probe while the first is out")
	}
	if ok, _ := b.allow(probe.Add(time.Second)); !ok {
		t.Fatal("a probe that never answered was not replaced after Tripped")
	}
}

// TestChainLimits: a chain with a rate limit answers a Refused 429 with
// Retry-After through Check; Observe feeds the breaker and a tripped one
// answers a Refused 503.
func TestChainLimits(t *testing.T) {
	var lines []string
	notify := func(s string) { lines = append(lines, s) }
	rr, err := compileRules("ratelimit", &sdk.StaticRules{
		RateLimit:      &sdk.RateLimit{Requests: 2, Period: time.Hour},
		CircuitBreaker: &sdk.CircuitBreaker{Ratio: 1, Volume: 2},
	})
	if err != nil {
		t.Fatal(err)
	}
	rr.breaker.notify = notify
	c := &Chain{rules: []*requestRules{rr}, limited: true}
	if got := strings.Join(rr.protection(), "; "); got != "rate limit 2/1h per address (ratelimit); circuit breaker at 100% 5xx (ratelimit)" {
		t.Errorf("protection %q", got)
	}
	req, _ := http.NewRequest("GET", "http://x.localhost/", nil)
	client := netip.MustParseAddrPort("192.0.2.1:4000")
	for range 2 {
		if d, err := c.Check(req, client, nil); err != nil || d.Respond {
			t.Fatalf("Check = %+v, %v; want continue", d, err)
		}
		c.Observe(500)
	}
	d, err := c.Check(req, netip.MustParseAddrPort("192.0.2.9:4000"), nil)
	if err != nil || !d.Refused || d.Status != http.StatusServiceUnavailable || d.Header.Get("Retry-After") != "10" {
		t.Fatalf("after two 5xx: %+v, %v; want a Refused 503 with Retry-After: 10", d, err)
	}
	d, err = c.Check(req, client, nil)
	if err != nil || !d.Refused || d.Status != http.StatusTooManyRequests || d.Header.Get("Retry-After") != "1800" || d.Notice == "" {
		t.Fatalf("third request: %+v, %v; want a Refused 429 with Retry-After: 1800 and a notice", d, err)
	}
	if len(lines) != 1 {
		t.Errorf("owner lines %q, want the trip line", lines)
	}
	var nilChain *Chain
	nilChain.Observe(500) // no panic
}
