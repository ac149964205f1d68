package pluginhost

import (
	"crypto/sha256"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/time/rate"

	"github.com/sshgress/sshgress/sdk"
)

// This file holds the traffic limits of static rules: a rate limit per
// caller (sdk.RateLimit, 429) and a circuit breaker fed by the upstream's
// response statuses (sdk.CircuitBreaker, 503). Both are enforced by
// Chain.Check with no call to the plugin; Chain.Observe feeds the breaker.

// limitKey identifies one caller of a rate limit: an address (IPv6 by its
// /64) or a hash of a key header's value, so the table holds no visitor
// text and each entry has a fixed size.
type limitKey struct {
	header bool
	b      [16]byte
}

// rateTable is one tunnel's rate limit: a token bucket per caller
// (golang.org/x/time/rate) in an LRU table of at most sdk.MaxRateLimitKeys
// callers. A caller dropped from a full table starts again with a full
// bucket: the table bounds memory, not a caller who rotates keys (header
// keys are the caller's to choose; an address needs a new /64 or IPv4
// address).
type rateTable struct {
	limit  sdk.RateLimit
	every  rate.Limit
	plugin string

	mu   sync.Mutex
	keys *simplelru.LRU[limitKey, *rate.Limiter]
	// lastRefusal is when the limit last refused anyone: the owner is
	// told when refusals start after a quiet period.
	lastRefusal time.Time
}

func newRateTable(plugin string, l sdk.RateLimit) *rateTable {
	keys, err := simplelru.NewLRU[limitKey, *rate.Limiter](sdk.MaxRateLimitKeys, nil)
	if err != nil {
		panic(err) // only for a size below 1
	}
	return &rateTable{
		limit:  l,
		every:  rate.Limit(float64(l.Requests) / l.Period.Seconds()),
		plugin: plugin,
		keys:   keys,
	}
}

// key returns the caller of a request with headers h from addr, and the
// words naming it for the owner (never a header's value).
func (t *rateTable) key(h http.Header, addr netip.Addr) (limitKey, string) {
	if t.limit.KeyHeader != "" {
		if v := h.Values(t.limit.KeyHeader); len(v) > 0 {
			s := v[0]
			if len(s) > sdk.MaxRateLimitKeyBytes {
				s = s[:sdk.MaxRateLimitKeyBytes]
			}
			sum := sha256.Sum256([]byte(s))
			k := limitKey{header: true}
			copy(k.b[:], sum[:])
			return k, "a caller (by its " + t.limit.KeyHeader + " header)"
		}
	}
	addr = addr.Unmap()
	var k limitKey
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		k.b = p.Addr().As16()
		return k, p.String()
	}
	k.b = addr.As16()
	return k, addr.String()
}

// allow takes one token of the request's caller at now. Over the limit,
// it returns false, how long until a token is back, and, when refusals
// start after a quiet period of one Period, a line for the owner.
func (t *rateTable) allow(h http.Header, addr netip.Addr, now time.Time) (ok bool, retry time.Duration, notice string) {
	k, who := t.key(h, addr)
	t.mu.Lock()
	defer t.mu.Unlock()
	lim, found := t.keys.Get(k)
	if !found {
		lim = rate.NewLimiter(t.every, t.limit.Requests)
		t.keys.Add(k, lim)
	}
	if lim.AllowN(now, 1) {
		return true, 0, ""
	}
	missing := 1 - lim.TokensAt(now)
	retry = time.Duration(missing / float64(t.every) * float64(time.Second))
	quiet := t.lastRefusal.IsZero() || now.Sub(t.lastRefusal) >= t.limit.Period
	t.lastRefusal = now
	if quiet {
		notice = userText(fmt.Sprintf("Rate limit %s reached by %s: its requests get 429 until it slows down (%s rules). Further 429s show only as request lines.",
			describeRate(t.limit), who, t.plugin))
	}
	return false, retry, notice
}

// describeRate reads l as the user wrote it: "5/1m", "100/30s".
func describeRate(l sdk.RateLimit) string {
	return strconv.Itoa(l.Requests) + "/" + shortDuration(l.Period)
}

// shortDuration writes d without zero units: 1m, 90s, 1h, 1.5s.
func shortDuration(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	case d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return d.String()
}

// breakerBuckets is how many slices the breaker's sliding window has: the
// window slides by Window/breakerBuckets.
const breakerBuckets = 10

type breakerState uint8

const (
	breakerClosed   breakerState = iota // requests go through; responses counted
	breakerOpen                         // tripped: 503 until Tripped has passed
	breakerHalfOpen                     // one probe went through; its response decides
)

// breaker is one tunnel's circuit breaker (sdk.CircuitBreaker): counts of
// responses and 5xx responses in breakerBuckets slices of the window.
// Half-open lets one probe through; if the probe's response never comes
// (the visitor went away, a middleware answered), the next request after
// another Tripped is the new probe, so the breaker cannot stick.
type breaker struct {
	cfg    sdk.CircuitBreaker // with defaults
	width  time.Duration      // one bucket
	plugin string
	notify func(string)

	mu      sync.Mutex
	state   breakerState
	buckets [breakerBuckets]struct {
		slot          int64 // which width-long slice of time it counts
		total, failed int
	}
	since time.Time // when the breaker opened, or when the probe went through
}

func newBreaker(plugin string, b sdk.CircuitBreaker) *breaker {
	b = b.WithDefaults()
	width := max(b.Window/breakerBuckets, time.Millisecond)
	return &breaker{cfg: b, width: width, plugin: plugin}
}

// allow reports whether a request may go upstream at now, and otherwise
// how long until the breaker lets a request through again.
func (b *breaker) allow(now time.Time) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case breakerOpen:
		if wait := b.cfg.Tripped - now.Sub(b.since); wait > 0 {
			return false, wait
		}
		b.state, b.since = breakerHalfOpen, now
		return true, 0 // the probe
	case breakerHalfOpen:
		if wait := b.cfg.Tripped - now.Sub(b.since); wait > 0 {
			return false, wait
		}
		b.since = now // the probe never answered: this one replaces it
		return true, 0
	}
	return true, 0
}

// observe counts one upstream response status at now: it may trip the
// breaker (closed), or close or re-trip it (half-open: the probe's
// answer). The owner is told when it trips from closed and when it closes
// again: two lines per trip however many requests.
func (b *breaker) observe(status int, now time.Time) {
	failed := status >= 500
	var notice string
	b.mu.Lock()
	switch b.state {
	case breakerClosed:
		slot := now.UnixNano() / int64(b.width)
		bk := &b.buckets[int(slot%breakerBuckets+breakerBuckets)%breakerBuckets]
		if bk.slot != slot {
			bk.slot, bk.total, bk.failed = slot, 0, 0
		}
		bk.total++
		if failed {
			bk.failed++
		}
		total, bad := 0, 0
		for _, x := range b.buckets {
			if x.slot > slot-breakerBuckets && x.slot <= slot {
				total += x.total
				bad += x.failed
			}
		}
		if failed && total >= b.cfg.Volume && float64(bad) >= b.cfg.Ratio*float64(total) {
			b.state, b.since = breakerOpen, now
			b.buckets = [breakerBuckets]struct {
				slot          int64
				total, failed int
			}{}
			notice = fmt.Sprintf("Circuit breaker tripped: %d of the last %d responses in %s were 5xx, so requests get 503 for %s without reaching your service (%s rules).",
				bad, total, shortDuration(b.cfg.Window), shortDuration(b.cfg.Tripped), b.plugin)
		}
	case breakerHalfOpen:
		if failed {
			b.state, b.since = breakerOpen, now
		} else {
			b.state = breakerClosed
			notice = fmt.Sprintf("Circuit breaker closed: your service answered %d again; requests reach it again (%s rules).", status, b.plugin)
		}
	}
	b.mu.Unlock()
	if notice != "" && b.notify != nil {
		b.notify(userText(notice))
	}
}

// limit applies rr's traffic limits to a request at now: a Refused 429 or
// 503 decision when one refuses it.
func (rr *requestRules) limit(h http.Header, addr netip.Addr, now time.Time) (Decision, bool) {
	if rr.rate != nil {
		if ok, retry, notice := rr.rate.allow(h, addr, now); !ok {
			return limited(http.StatusTooManyRequests, retry, notice), true
		}
	}
	if rr.breaker != nil {
		if ok, retry := rr.breaker.allow(now); !ok {
			return limited(http.StatusServiceUnavailable, retry, ""), true
		}
	}
	return Decision{}, false
}

// limited is the Decision for a request a traffic limit refused.
func limited(status int, retry time.Duration, notice string) Decision {
	d := refusal(notice)
	d.Status = status
	d.Body = []byte(strconv.Itoa(status) + " " + http.StatusText(status) + "\n")
	d.RetryAfter = retryAfter(retry)
	d.Header.Set("Retry-After", strconv.Itoa(int(d.RetryAfter/time.Second)))
	return d
}

// retryAfter rounds d up to whole seconds, at least one.
func retryAfter(d time.Duration) time.Duration {
	s := math.Ceil(d.Seconds())
	return time.Duration(max(s, 1)) * time.Second
}

// Observe feeds the status of one response the upstream gave (or the
// edge gave for it: 502 when the service is down) to the tunnel's circuit
// breakers. It is cheap when there is none, and safe on a nil Chain.
func (c *Chain) Observe(status int) {
	if c == nil || !c.limited || status < 100 {
		return // no breaker, or no response (the visitor went away)
	}
	var now time.Time
	for _, rr := range c.rules {
		if rr.breaker != nil {
			if now.IsZero() {
				now = time.Now()
			}
			rr.breaker.observe(status, now)
		}
	}
}

// trafficProtection describes rr's traffic limits for the banner.
func (rr *requestRules) trafficProtection() []string {
	var out []string
	if t := rr.rate; t != nil {
		per := "per address"
		if t.limit.KeyHeader != "" {
			per = "per " + t.limit.KeyHeader + " header"
		}
		out = append(out, "rate limit "+describeRate(t.limit)+" "+per)
	}
	if b := rr.breaker; b != nil {
		out = append(out, "circuit breaker at "+strconv.FormatFloat(b.cfg.Ratio*100, 'g', 4, 64)+"% 5xx")
	}
	return out
}
