package sdk_test

import (
	"strings"
	"testing"

	"github.com/sshgress/sshgress/sdk"
)

func TestStaticRulesValidate(t *testing.T) {
	many := func(n int, s string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = s
		}
		return out
	}
	tests := []struct {
		name    string
		rules   sdk.StaticRules
		wantErr string
	}{
		{"empty", sdk.StaticRules{}, ""},
		{"both kinds", sdk.StaticRules{CIDRAllow: []string{"10.0.0.0/8"}, CIDRDeny: []string{"10.0.0.7/32"}, UserAgentAllow: []string{"^Mozilla/"}, UserAgentDeny: []string{"(?i)curl"}}, ""},
		{"bad prefix", sdk.StaticRules{CIDRDeny: []string{"10.0.0.300/8"}}, "static rules"},
		{"address without bits", sdk.StaticRules{CIDRDeny: []string{"10.0.0.1"}}, "static rules"},
		{"too many prefixes", sdk.StaticRules{CIDRAllow: many(sdk.MaxCIDRs, "10.0.0.0/8"), CIDRDeny: []string{"10.0.0.0/8"}}, "CIDR prefixes, at most"},
		{"bad expression", sdk.StaticRules{UserAgentDeny: []string{"(curl"}}, "missing closing )"},
		{"perl lookahead is not RE2", sdk.StaticRules{UserAgentDeny: []string{"(?=curl)"}}, "invalid or unsupported Perl syntax"},
		{"too long", sdk.StaticRules{UserAgentAllow: []string{strings.Repeat("a", sdk.MaxRegexpBytes+1)}}, "bytes, at most"},
		{"too complex", sdk.StaticRules{UserAgentAllow: []string{"(?:abcdefgh){1000}"}}, "too complex"},
		{"too many expressions", sdk.StaticRules{UserAgentDeny: many(sdk.MaxUserAgentRules+1, "x")}, "user-agent expressions, at most"},
		{"invalid utf-8", sdk.StaticRules{UserAgentDeny: []string{"\xff"}}, "UTF-8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.rules.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Validate = %v, want nil", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Validate = %v, want an error with %q", err, tc.wantErr)
			}
		})
	}
}

func TestParseUserAgentRegexp(t *testing.T) {
	tests := []struct{ expr, want string }{
		{"(?i)curl", ""},
		{"curl(", `--ua-filter-deny "curl(" is not a valid RE2 regular expression`},
		{strings.Repeat("x", sdk.MaxRegexpBytes+1), "--ua-filter-deny is 257 bytes long; a User-Agent expression may be at most 256"},
	}
	for _, tc := range tests {
		re, err := sdk.ParseUserAgentRegexp("ua-filter-deny", tc.expr)
		if tc.want == "" {
			if err != nil || !re.MatchString("CURL/8.0") {
				t.Errorf("ParseUserAgentRegexp(%q) = %v, %v; want a case-insensitive match", tc.expr, re, err)
			}
			continue
		}
		msg, ok := sdk.AsUserError(err)
		if !ok || !strings.Contains(msg, tc.want) {
			t.Errorf("ParseUserAgentRegexp(%.20q) = %v, want a UserError with %q", tc.expr, err, tc.want)
		}
	}
}

func FuzzCompileRuleRegexp(f *testing.F) {
	for _, s := range []string{"(?i)curl", "^Mozilla/5\\.0 ", "(?:abcdefgh){1000}", "[", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		re, err := sdk.CompileRuleRegexp(expr)
		if err != nil {
			return
		}
		if len(expr) > sdk.MaxRegexpBytes {
			t.Fatalf("accepted a %d-byte expression", len(expr))
		}
		re.MatchString("Mozilla/5.0 curl")
	})
}
