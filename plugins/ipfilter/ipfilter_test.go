package ipfilter

import (
	"reflect"
	"strings"
	"testing"

	"github.com/sshgress/sshgress/sdk"
	"github.com/sshgress/sshgress/sdk/plugintest"
)

// TestOpenTunnel runs the plugin over real gRPC (plugintest) and checks
// the rules it returns and every refusal sentence.
func TestOpenTunnel(t *testing.T) {
	h := plugintest.Start(t, New())
	if err := h.Configure(map[string]any{}); err != nil {
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
		{"cidr", map[string][]string{FlagCIDRAllow: {"10.1.2.3/8", "2001:db8::1"}, FlagCIDRDeny: {"10.0.0.7"}},
			&sdk.StaticRules{CIDRAllow: []string{"10.0.0.0/8", "2001:db8::1/128"}, CIDRDeny: []string{"10.0.0.7/32"}}, ""},
		{"user agents", map[string][]string{FlagUAAllow: {"^Mozilla/"}, FlagUADeny: {"(?i)bot", "curl"}},
			&sdk.StaticRules{UserAgentAllow: []string{"^Mozilla/"}, UserAgentDeny: []string{"(?i)bot", "curl"}}, ""},
		{"bad cidr", map[string][]string{FlagCIDRDeny: {"10.0.0.300/8"}}, nil,
			`--cidr-deny "10.0.0.300/8" is not a CIDR prefix like 203.0.113.0/24 or an IP address`},
		{"bad regex", map[string][]string{FlagUADeny: {"curl("}}, nil,
			`--ua-filter-deny "curl(" is not a valid RE2 regular expression`},
		{"regex too long", map[string][]string{FlagUAAllow: {strings.Repeat("a", sdk.MaxRegexpBytes+1)}}, nil,
			"--ua-filter-allow is 257 bytes long; a User-Agent expression may be at most 256"},
		{"too many ranges", map[string][]string{FlagCIDRAllow: make([]string, sdk.MaxCIDRs+1)}, nil, "not a CIDR prefix"},
		{"too many expressions", map[string][]string{FlagUADeny: strings.Split(strings.Repeat("x,", sdk.MaxUserAgentRules), ",")}, nil,
			"33 expressions given with --ua-filter-allow and --ua-filter-deny; at most 32"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := h.Open("t1", tc.values)
			if tc.wantErr != "" {
				msg, ok := sdk.AsUserError(err)
				if !ok || msg != tc.wantErr && !strings.Contains(msg, tc.wantErr) {
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

func TestConfigureNoSettings(t *testing.T) {
	h := plugintest.Start(t, New())
	if err := h.Configure(map[string]any{"allow": "x"}); err == nil {
		t.Error("Configure with a setting = nil, want an error")
	}
}

func FuzzParseRules(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "::1", "(?i)curl", "[", "1.2.3.4/33"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, cidr, ua string) {
		r, err := ParseRules(map[string][]string{FlagCIDRDeny: {cidr}, FlagUADeny: {ua}})
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
