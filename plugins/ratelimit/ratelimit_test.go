package ratelimit

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sshgress/sshgress/sdk"
	"github.com/sshgress/sshgress/sdk/plugintest"
)

// TestOpenTunnel runs the plugin over real gRPC (plugintest) and checks
// the rules it returns, the operator's breaker settings and every refusal
// sentence.
func TestOpenTunnel(t *testing.T) {
	h := plugintest.Start(t, New())
	if err := h.Configure(map[string]any{"breaker_volume": 3, "breaker_window": "2s", "breaker_tripped": "500ms"}); err != nil {
		t.Fatal(err)
	}
	if m := h.Manifest(); m.HTTPMiddleware || m.Authenticates {
		t.Errorf("manifest: HTTPMiddleware=%v Authenticates=%v, want neither (no Check, not an auth method)", m.HTTPMiddleware, m.Authenticates)
	}
	tests := []struct {
		name    string
		values  map[string][]string
		want    *sdk.StaticRules
		wantErr string
	}{
		{"rate", map[string][]string{FlagRateLimit: {"5/1m"}},
			&sdk.StaticRules{RateLimit: &sdk.RateLimit{Requests: 5, Period: time.Minute}}, ""},
		{"rate by header", map[string][]string{FlagRateLimit: {"100/h"}, FlagRateLimitKey: {"header:x-api-key"}},
			&sdk.StaticRules{RateLimit: &sdk.RateLimit{Requests: 100, Period: time.Hour, KeyHeader: "X-Api-Key"}}, ""},
		{"rate by ip", map[string][]string{FlagRateLimit: {"1/s"}, FlagRateLimitKey: {"ip"}},
			&sdk.StaticRules{RateLimit: &sdk.RateLimit{Requests: 1, Period: time.Second}}, ""},
		{"breaker with the operator's settings", map[string][]string{FlagCircuitBreaker: {"0.5"}},
			&sdk.StaticRules{CircuitBreaker: &sdk.CircuitBreaker{Ratio: 0.5, Volume: 3, Window: 2 * time.Second, Tripped: 500 * time.Millisecond}}, ""},
		{"bad rate", map[string][]string{FlagRateLimit: {"5 per minute"}}, nil, `--rate-limit "5 per minute" is not a rate like 100/1m`},
		{"bad period", map[string][]string{FlagRateLimit: {"5/fortnight"}}, nil, "the period must be a duration such as 1s, 30s, 1m or 1h"},
		{"bad key", map[string][]string{FlagRateLimit: {"5/1m"}, FlagRateLimitKey: {"cookie:sid"}}, nil, `--rate-limit-key "cookie:sid" is not ip or header:NAME`},
		{"key alone", map[string][]string{FlagRateLimitKey: {"ip"}}, nil, "give --rate-limit N/PERIOD too"},
		{"ratio zero", map[string][]string{FlagCircuitBreaker: {"0"}}, nil, `--circuit-breaker "0" is not a ratio`},
		{"ratio above one", map[string][]string{FlagCircuitBreaker: {"1.5"}}, nil, `--circuit-breaker "1.5" is not a ratio`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := h.Open("t1", tc.values)
			if tc.wantErr != "" {
				msg, ok := sdk.AsUserError(err)
				if !ok || !strings.Contains(msg, tc.wantErr) {
					t.Fatalf("Open = %v, want the sentence %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !reflect.DeepEqual(res.Rules, tc.want) {
				t.Fatalf("rules = %+v, want %+v", res.Rules, tc.want)
			}
		})
	}
}

// TestConfigureDefaults: without settings the breaker takes ngrok's
// defaults; bad settings stop start-up with the key's name.
func TestConfigureDefaults(t *testing.T) {
	h := plugintest.Start(t, New())
	if err := h.Configure(map[string]any{}); err != nil {
		t.Fatal(err)
	}
	res, err := h.Open("t1", map[string][]string{FlagCircuitBreaker: {"1"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := (sdk.CircuitBreaker{Ratio: 1, Volume: 10, Window: 10 * time.Second, Tripped: 10 * time.Second}); *res.Rules.CircuitBreaker != want {
		t.Errorf("breaker %+v, want ngrok's defaults %+v", *res.Rules.CircuitBreaker, want)
	}
	for _, bad := range []map[string]any{{"breaker_window": "10"}, {"breaker_tripped": "2h"}, {"breaker_volume": 0}, {"window": "1s"}} {
		h := plugintest.Start(t, New())
		if err := h.Configure(bad); err == nil {
			t.Errorf("Configure(%v) = nil, want an error", bad)
		}
	}
}

func FuzzParseRules(f *testing.F) {
	for _, s := range []string{"5/1m", "100/h", "0/1s", "1/24h", "x/y", "0.5", "header:X-Key"} {
		f.Add(s, s, s)
	}
	f.Fuzz(func(t *testing.T, rate, key, ratio string) {
		r, err := ParseRules(map[string][]string{FlagRateLimit: {rate}, FlagRateLimitKey: {key}, FlagCircuitBreaker: {ratio}}, sdk.CircuitBreaker{})
		if err != nil {
			if _, ok := sdk.AsUserError(err); !ok {
				t.Fatalf("ParseRules error %v is not a UserError", err)
			}
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("ParseRules accepted rules the edge refuses: %v", err)
		}
	})
}
