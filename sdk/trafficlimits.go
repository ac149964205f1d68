package sdk

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
)

// RateLimit is a static rule (StaticRules.RateLimit) that lets each caller
// of an http tunnel make at most Requests requests per Period: a token
// bucket holding Requests tokens, refilled at Requests/Period, so a quiet
// caller may send Requests at once. A request over the limit gets the
// edge's 429 page with Retry-After (whole seconds until a token is back).
//
// A caller is the visitor's address (an IPv6 address counts by its /64)
// or, with KeyHeader, the value of that request header; a request without
// the header counts by its address. Header values are hashed (SHA-256 of
// at most MaxRateLimitKeyBytes) and never stored or shown. The edge keeps
// at most MaxRateLimitKeys callers per tunnel, dropping the least recently
// seen, whose next request starts with a full bucket.
type RateLimit struct {
	// Requests is the number of requests per Period, 1 to
	// MaxRateLimitRequests.
	Requests int
	// Period is the refill period, MinRateLimitPeriod to
	// MaxRateLimitPeriod.
	Period time.Duration
	// KeyHeader names the request header that identifies a caller; empty
	// means the visitor's address.
	KeyHeader string
}

// CircuitBreaker is a static rule (StaticRules.CircuitBreaker): while at
// least Ratio of the upstream's responses in the last Window were 5xx, and
// at least Volume responses were seen in it, the edge answers 503 (with
// Retry-After) for Tripped without calling the upstream. After Tripped
// the breaker is half-open: one probe request goes through, and its
// response closes the breaker (below 500) or trips it again (5xx); other
// requests get 503 meanwhile, and a probe that does not answer within
// Tripped is replaced by the next request.
type CircuitBreaker struct {
	// Ratio is the share of 5xx responses that trips the breaker, in
	// (0, 1].
	Ratio float64
	// Volume is the least number of responses in Window before the
	// breaker can trip; DefaultBreakerVolume when zero.
	Volume int
	// Window is the sliding window, MinBreakerDuration to
	// MaxBreakerDuration; DefaultBreakerWindow when zero.
	Window time.Duration
	// Tripped is how long the breaker stays open, MinBreakerDuration to
	// MaxBreakerDuration; DefaultBreakerTripped when zero.
	Tripped time.Duration
}

const (
	// MaxRateLimitRequests bounds RateLimit.Requests.
	MaxRateLimitRequests = 1_000_000
	// MinRateLimitPeriod and MaxRateLimitPeriod bound RateLimit.Period.
	MinRateLimitPeriod = time.Second
	MaxRateLimitPeriod = 24 * time.Hour
	// MaxRateLimitKeys is how many callers the edge tracks per tunnel
	// (about 240 bytes each, measured, so at most ~2.4 MB per tunnel).
	MaxRateLimitKeys = 10_000
	// MaxRateLimitKeyBytes is how much of a key header's value is hashed.
	MaxRateLimitKeyBytes = 256

	// DefaultBreakerVolume, DefaultBreakerWindow and DefaultBreakerTripped
	// are ngrok's circuit breaker defaults.
	DefaultBreakerVolume  = 10
	DefaultBreakerWindow  = 10 * time.Second
	DefaultBreakerTripped = 10 * time.Second
	// MaxBreakerVolume bounds CircuitBreaker.Volume.
	MaxBreakerVolume = 1_000_000
	// MinBreakerDuration and MaxBreakerDuration bound Window and Tripped.
	MinBreakerDuration = 100 * time.Millisecond
	MaxBreakerDuration = time.Hour
)

// Validate reports the first value of l outside its bounds, or a
// KeyHeader that is not a valid header name.
func (l RateLimit) Validate() error {
	switch {
	case l.Requests < 1 || l.Requests > MaxRateLimitRequests:
		return fmt.Errorf("sdk: rate limit: %d requests, want 1 to %d", l.Requests, MaxRateLimitRequests)
	case l.Period < MinRateLimitPeriod || l.Period > MaxRateLimitPeriod:
		return fmt.Errorf("sdk: rate limit: period %v, want %v to %v", l.Period, MinRateLimitPeriod, MaxRateLimitPeriod)
	case l.KeyHeader != "" && !httpguts.ValidHeaderFieldName(l.KeyHeader):
		return fmt.Errorf("sdk: rate limit: key header %q is not a valid header name", l.KeyHeader)
	}
	return nil
}

// WithDefaults returns b with its zero Volume, Window and Tripped set to
// ngrok's defaults.
func (b CircuitBreaker) WithDefaults() CircuitBreaker {
	if b.Volume == 0 {
		b.Volume = DefaultBreakerVolume
	}
	if b.Window == 0 {
		b.Window = DefaultBreakerWindow
	}
	if b.Tripped == 0 {
		b.Tripped = DefaultBreakerTripped
	}
	return b
}

// Validate reports the first value of b (after WithDefaults) outside its
// bounds.
func (b CircuitBreaker) Validate() error {
	b = b.WithDefaults()
	switch {
	case !(b.Ratio > 0 && b.Ratio <= 1):
		return fmt.Errorf("sdk: circuit breaker: ratio %v, want more than 0 and at most 1", b.Ratio)
	case b.Volume < 1 || b.Volume > MaxBreakerVolume:
		return fmt.Errorf("sdk: circuit breaker: volume %d, want 1 to %d", b.Volume, MaxBreakerVolume)
	case b.Window < MinBreakerDuration || b.Window > MaxBreakerDuration:
		return fmt.Errorf("sdk: circuit breaker: window %v, want %v to %v", b.Window, MinBreakerDuration, MaxBreakerDuration)
	case b.Tripped < MinBreakerDuration || b.Tripped > MaxBreakerDuration:
		return fmt.Errorf("sdk: circuit breaker: tripped %v, want %v to %v", b.Tripped, MinBreakerDuration, MaxBreakerDuration)
	}
	return nil
}

// ParseRateLimit parses a --rate-limit style value, N/PERIOD: N requests
// (1 to MaxRateLimitRequests) per PERIOD, a Go duration ("90s", "1m30s")
// or a bare unit meaning one of it ("s", "m", "h"), from
// MinRateLimitPeriod to MaxRateLimitPeriod. Errors are UserErrors naming
// the flag.
func ParseRateLimit(flag, value string) (RateLimit, error) {
	bad := func(why string) (RateLimit, error) {
		return RateLimit{}, UserErrorf("--%s %q is not a rate like 100/1m: %s", flag, value, why)
	}
	n, period, ok := strings.Cut(value, "/")
	if !ok {
		return bad("give requests/period")
	}
	requests, err := strconv.Atoi(n)
	if err != nil || requests < 1 || requests > MaxRateLimitRequests {
		return bad(fmt.Sprintf("the number of requests must be a whole number from 1 to %d", MaxRateLimitRequests))
	}
	switch period {
	case "s", "m", "h":
		period = "1" + period
	}
	d, err := time.ParseDuration(period)
	if err != nil {
		return bad("the period must be a duration such as 1s, 30s, 1m or 1h")
	}
	if d < MinRateLimitPeriod || d > MaxRateLimitPeriod {
		return bad(fmt.Sprintf("the period must be from %v to %v", MinRateLimitPeriod, MaxRateLimitPeriod))
	}
	return RateLimit{Requests: requests, Period: d}, nil
}

// ParseRateLimitKey parses a --rate-limit-key style value: "ip" (the
// visitor's address, returned as "") or "header:NAME" (returned as the
// canonical header name). Errors are UserErrors naming the flag.
func ParseRateLimitKey(flag, value string) (string, error) {
	if value == "ip" {
		return "", nil
	}
	name, ok := strings.CutPrefix(value, "header:")
	if ok && httpguts.ValidHeaderFieldName(name) && len(name) <= 128 {
		return http.CanonicalHeaderKey(name), nil
	}
	return "", UserErrorf("--%s %q is not ip or header:NAME (e.g. header:X-Api-Key)", flag, value)
}

// ParseBreakerRatio parses a --circuit-breaker style value: a number more
// than 0 and at most 1, e.g. 0.5. Errors are UserErrors naming the flag.
func ParseBreakerRatio(flag, value string) (float64, error) {
	r, err := strconv.ParseFloat(value, 64)
	if err != nil || math.IsNaN(r) || r <= 0 || r > 1 {
		return 0, UserErrorf("--%s %q is not a ratio: give a number more than 0 and at most 1, e.g. 0.5 for half of the responses", flag, value)
	}
	return r, nil
}
