package sdk_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sshgress/sshgress/sdk"
)

func TestParseRateLimit(t *testing.T) {
	tests := []struct {
		value string
		want  sdk.RateLimit
		err   string
	}{
		{"100/1m", sdk.RateLimit{Requests: 100, Period: time.Minute}, ""},
		{"5/m", sdk.RateLimit{Requests: 5, Period: time.Minute}, ""},
		{"1/s", sdk.RateLimit{Requests: 1, Period: time.Second}, ""},
		{"1000000/24h", sdk.RateLimit{Requests: 1_000_000, Period: 24 * time.Hour}, ""},
		{"10/1m30s", sdk.RateLimit{Requests: 10, Period: 90 * time.Second}, ""},
		{"100", sdk.RateLimit{}, `--rate-limit "100" is not a rate like 100/1m: give requests/period`},
		{"0/1m", sdk.RateLimit{}, "a whole number from 1 to 1000000"},
		{"1000001/1m", sdk.RateLimit{}, "a whole number from 1 to 1000000"},
		{"-1/1m", sdk.RateLimit{}, "a whole number from 1 to 1000000"},
		{"10/minute", sdk.RateLimit{}, "the period must be a duration such as 1s, 30s, 1m or 1h"},
		{"10/500ms", sdk.RateLimit{}, "the period must be from 1s to 24h0m0s"},
		{"10/25h", sdk.RateLimit{}, "the period must be from 1s to 24h0m0s"},
	}
	for _, tc := range tests {
		got, err := sdk.ParseRateLimit("rate-limit", tc.value)
		if tc.err == "" {
			if err != nil || got != tc.want {
				t.Errorf("ParseRateLimit(%q) = %+v, %v; want %+v", tc.value, got, err, tc.want)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("ParseRateLimit(%q) gave a limit the edge refuses: %v", tc.value, err)
			}
			continue
		}
		if msg, ok := sdk.AsUserError(err); !ok || !strings.Contains(msg, tc.err) {
			t.Errorf("ParseRateLimit(%q) = %v, want a UserError with %q", tc.value, err, tc.err)
		}
	}
}

func TestParseRateLimitKey(t *testing.T) {
	for value, want := range map[string]string{"ip": "", "header:x-api-key": "X-Api-Key"} {
		if got, err := sdk.ParseRateLimitKey("rate-limit-key", value); err != nil || got != want {
			t.Errorf("ParseRateLimitKey(%q) = %q, %v; want %q", value, got, err, want)
		}
	}
	for _, value := range []string{"", "IP", "header:", "header:bad name", "cookie:x"} {
		if _, err := sdk.ParseRateLimitKey("rate-limit-key", value); err == nil || !strings.Contains(err.Error(), "is not ip or header:NAME") {
			t.Errorf("ParseRateLimitKey(%q) = %v, want the sentence", value, err)
		}
	}
}

func TestParseBreakerRatio(t *testing.T) {
	for _, ok := range []string{"0.5", "1", "0.01"} {
		if _, err := sdk.ParseBreakerRatio("circuit-breaker", ok); err != nil {
			t.Errorf("ParseBreakerRatio(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"0", "1.5", "-0.2", "NaN", "half", ""} {
		if _, err := sdk.ParseBreakerRatio("circuit-breaker", bad); err == nil || !strings.Contains(err.Error(), "is not a ratio: give a number more than 0 and at most 1") {
			t.Errorf("ParseBreakerRatio(%q) = %v, want the sentence", bad, err)
		}
	}
}

func TestTrafficLimitsValidate(t *testing.T) {
	tests := []struct {
		name  string
		rules sdk.StaticRules
		err   string
	}{
		{"rate", sdk.StaticRules{RateLimit: &sdk.RateLimit{Requests: 5, Period: time.Minute, KeyHeader: "X-Api-Key"}}, ""},
		{"breaker defaults", sdk.StaticRules{CircuitBreaker: &sdk.CircuitBreaker{Ratio: 0.5}}, ""},
		{"no requests", sdk.StaticRules{RateLimit: &sdk.RateLimit{Period: time.Minute}}, "0 requests"},
		{"short period", sdk.StaticRules{RateLimit: &sdk.RateLimit{Requests: 1, Period: time.Millisecond}}, "period 1ms"},
		{"bad header", sdk.StaticRules{RateLimit: &sdk.RateLimit{Requests: 1, Period: time.Minute, KeyHeader: "a b"}}, "not a valid header name"},
		{"ratio", sdk.StaticRules{CircuitBreaker: &sdk.CircuitBreaker{Ratio: 1.1}}, "ratio 1.1"},
		{"window", sdk.StaticRules{CircuitBreaker: &sdk.CircuitBreaker{Ratio: 1, Window: time.Millisecond}}, "window 1ms"},
		{"negative volume", sdk.StaticRules{CircuitBreaker: &sdk.CircuitBreaker{Ratio: 1, Volume: -1}}, "volume -1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.rules.Empty() {
				t.Error("Empty() = true for a traffic limit")
			}
			err := tc.rules.Validate()
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("Validate = %v, want %q", err, tc.err)
			}
		})
	}
}
