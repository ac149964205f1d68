// Package ratelimit is the bundled sshgress plugin behind ngrok's rate
// limit and circuit breaker on the http command:
//
//	ssh -R 443:localhost:3000 v2@edge http --rate-limit 100/1m
//	ssh -R 443:localhost:3000 v2@edge http --rate-limit 10/1s --rate-limit-key header:X-Api-Key
//	ssh -R 443:localhost:3000 v2@edge http --circuit-breaker 0.5
//
// --rate-limit N/PERIOD lets each caller make N requests per PERIOD (a
// token bucket: a quiet caller may send N at once); a request over it
// gets the edge's 429 page with Retry-After. A caller is the visitor's
// address, or with --rate-limit-key header:NAME the value of that header
// (hashed by the edge, never stored or shown). --circuit-breaker RATIO
// answers 503 without calling the service while at least RATIO of its
// responses in the window were 5xx (sdk.CircuitBreaker: half-open with one
// probe after the trip time).
//
// The plugin is the control plane only: OpenTunnel validates the values
// and returns them as sdk.StaticRules, which the edge enforces itself for
// every request, with no call to the plugin, and with the breaker fed by
// the edge's own view of the responses. The operator config sets the
// breaker's volume, window and trip time (ngrok's 10 requests, 10 s, 10 s
// by default). It is not an auth method: it combines with --basic-auth
// or --oauth.
//
// The package imports sdk only, like every plugin.
package ratelimit

import (
	"context"
	"fmt"
	"time"

	"github.com/sshgress/sshgress/sdk"
)

const (
	// Name is the plugin's name in the edge's config.
	Name = "ratelimit"
	// FlagRateLimit, FlagRateLimitKey and FlagCircuitBreaker are the flags
	// the plugin owns on http, ngrok's names.
	FlagRateLimit      = "rate-limit"
	FlagRateLimitKey   = "rate-limit-key"
	FlagCircuitBreaker = "circuit-breaker"
)

// command is the only command the flags apply to.
const command = "http"

// version is the plugin's own version, reported in its manifest.
const version = "1.0.0"

// plugin implements sdk.TunnelHooks; its only state is the operator's
// breaker settings, set by Configure before any tunnel opens.
type plugin struct {
	breaker sdk.CircuitBreaker // Ratio unset: the defaults for every tunnel
}

var _ sdk.TunnelHooks = (*plugin)(nil)

// New returns the ratelimit plugin, ready for sdk.Serve(ratelimit.New()).
func New() sdk.Plugin { return &plugin{breaker: sdk.CircuitBreaker{}.WithDefaults()} }

// Manifest declares the three flags for http tunnels.
func (p *plugin) Manifest() sdk.Manifest {
	http := []string{command}
	return sdk.Manifest{
		Name:    Name,
		Version: version,
		Flags: []sdk.FlagSpec{
			{Name: FlagRateLimit, Type: sdk.FlagString, ValueName: "N/PERIOD", Commands: http,
				Help: "Answer 429 to a caller making more than N requests per PERIOD, e.g. 100/1m (PERIOD 1s to 24h)."},
			{Name: FlagRateLimitKey, Type: sdk.FlagString, ValueName: "ip|header:NAME", Commands: http,
				Help: "Count --rate-limit per visitor address (ip, the default) or per value of a request header."},
			{Name: FlagCircuitBreaker, Type: sdk.FlagString, ValueName: "RATIO", Commands: http,
				Help: "Answer 503 for a while, without calling your service, once RATIO (0 to 1) of its recent responses were 5xx."},
		},
	}
}

// Configure reads the breaker's settings: breaker_volume (responses in the
// window before it can trip), breaker_window and breaker_tripped (Go
// durations); defaults sdk.DefaultBreakerVolume, DefaultBreakerWindow and
// DefaultBreakerTripped.
func (p *plugin) Configure(_ context.Context, cfg sdk.Config) error {
	var raw struct {
		Volume  *int    `json:"breaker_volume"`
		Window  *string `json:"breaker_window"`
		Tripped *string `json:"breaker_tripped"`
	}
	if err := cfg.Decode(&raw); err != nil {
		return fmt.Errorf("ratelimit: configure: %w (known: breaker_volume, breaker_window, breaker_tripped)", err)
	}
	b := sdk.CircuitBreaker{}.WithDefaults()
	if raw.Volume != nil {
		b.Volume = *raw.Volume
		if b.Volume < 1 || b.Volume > sdk.MaxBreakerVolume {
			return fmt.Errorf("ratelimit: configure: breaker_volume %d: want 1 to %d", b.Volume, sdk.MaxBreakerVolume)
		}
	}
	for _, d := range []struct {
		key string
		src *string
		dst *time.Duration
	}{{"breaker_window", raw.Window, &b.Window}, {"breaker_tripped", raw.Tripped, &b.Tripped}} {
		if d.src == nil {
			continue
		}
		v, err := time.ParseDuration(*d.src)
		if err != nil || v < sdk.MinBreakerDuration || v > sdk.MaxBreakerDuration {
			return fmt.Errorf("ratelimit: configure: %s %q: want a duration from %v to %v, e.g. 10s", d.key, *d.src, sdk.MinBreakerDuration, sdk.MaxBreakerDuration)
		}
		*d.dst = v
	}
	p.breaker = b
	return nil
}

// OpenTunnel validates the flag values and returns them as the tunnel's
// static rules. A bad value refuses the tunnel with a sentence naming the
// flag and the value.
func (p *plugin) OpenTunnel(_ context.Context, t sdk.Tunnel) (sdk.OpenResult, error) {
	rules, err := ParseRules(t.Values, p.breaker)
	if err != nil {
		return sdk.OpenResult{}, err
	}
	return sdk.OpenResult{Rules: &rules}, nil
}

// CloseTunnel has nothing to forget: the edge holds the counters.
func (p *plugin) CloseTunnel(context.Context, string) error { return nil }

// ParseRules turns the plugin's flag values into static rules, with the
// breaker's volume, window and trip time from breaker. Errors are
// sdk.UserErrors fit for the tunnel's owner.
func ParseRules(values map[string][]string, breaker sdk.CircuitBreaker) (sdk.StaticRules, error) {
	var r sdk.StaticRules
	if v := values[FlagRateLimit]; len(v) > 0 {
		l, err := sdk.ParseRateLimit(FlagRateLimit, v[len(v)-1])
		if err != nil {
			return sdk.StaticRules{}, err
		}
		r.RateLimit = &l
	}
	if v := values[FlagRateLimitKey]; len(v) > 0 {
		if r.RateLimit == nil {
			return sdk.StaticRules{}, sdk.UserErrorf("--%s says how --%s counts callers; give --%s N/PERIOD too", FlagRateLimitKey, FlagRateLimit, FlagRateLimit)
		}
		key, err := sdk.ParseRateLimitKey(FlagRateLimitKey, v[len(v)-1])
		if err != nil {
			return sdk.StaticRules{}, err
		}
		r.RateLimit.KeyHeader = key
	}
	if v := values[FlagCircuitBreaker]; len(v) > 0 {
		ratio, err := sdk.ParseBreakerRatio(FlagCircuitBreaker, v[len(v)-1])
		if err != nil {
			return sdk.StaticRules{}, err
		}
		b := breaker.WithDefaults()
		b.Ratio = ratio
		r.CircuitBreaker = &b
	}
	if r.Empty() {
		return sdk.StaticRules{}, sdk.UserErrorf("give --%s or --%s a value", FlagRateLimit, FlagCircuitBreaker)
	}
	if err := r.Validate(); err != nil {
		return sdk.StaticRules{}, fmt.Errorf("ratelimit: %w", err)
	}
	return r, nil
}
