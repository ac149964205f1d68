package headers

import (
	"reflect"
	"strings"
	"testing"

	"github.com/sshgress/sshgress/sdk"
	"github.com/sshgress/sshgress/sdk/plugintest"
)

// TestOpenTunnel runs the plugin over real gRPC (plugintest) and checks
// the edits it returns and every refusal sentence.
func TestOpenTunnel(t *testing.T) {
	h := plugintest.Start(t, New())
	if err := h.Configure(map[string]any{}); err != nil {
		t.Fatal(err)
	}
	if m := h.Manifest(); m.HTTPMiddleware || m.Authenticates {
		t.Errorf("manifest: HTTPMiddleware=%v Authenticates=%v, want neither (no Check, not an auth method)", m.HTTPMiddleware, m.Authenticates)
	}
	many := make([]string, sdk.MaxHeaderEdits+1)
	for i := range many {
		many[i] = "X-A: 1"
	}
	tests := []struct {
		name    string
		values  map[string][]string
		want    sdk.HeaderEdits
		wantErr string
	}{
		{"all", map[string][]string{
			FlagRequestAdd: {"X-Env: staging", "X-Env: two"}, FlagRequestRemove: {"Referer"},
			FlagResponseAdd: {"X-Frame-Options: DENY"}, FlagResponseRemove: {"Server"}, FlagHostHeader: {"localhost:3000"}},
			sdk.HeaderEdits{RequestAdd: []sdk.HeaderField{{Name: "X-Env", Value: "staging"}, {Name: "X-Env", Value: "two"}}, RequestRemove: []string{"Referer"},
				ResponseAdd: []sdk.HeaderField{{Name: "X-Frame-Options", Value: "DENY"}}, ResponseRemove: []string{"Server"}, Host: "localhost:3000"}, ""},
		{"rewrite", map[string][]string{FlagHostHeader: {"rewrite"}}, sdk.HeaderEdits{Host: "localhost"}, ""},
		{"no colon", map[string][]string{FlagRequestAdd: {"X-Env"}}, sdk.HeaderEdits{}, `--request-header-add takes "Name: value"`},
		{"crlf", map[string][]string{FlagResponseAdd: {"X-A: a\r\nSet-Cookie: evil=1"}}, sdk.HeaderEdits{},
			`--response-header-add: the value of "X-A" has a control character (CR, LF, NUL or another); a header value is one line of text`},
		{"forge", map[string][]string{FlagRequestAdd: {"X-Forwarded-For: 203.0.113.9"}}, sdk.HeaderEdits{},
			`--request-header-add: "X-Forwarded-For" is one of the edge's own headers`},
		{"identity", map[string][]string{FlagRequestRemove: {"X-Sshgress-User-Email"}}, sdk.HeaderEdits{},
			`--request-header-remove: "X-Sshgress-User-Email" is one of the edge's own headers`},
		{"hop-by-hop", map[string][]string{FlagResponseRemove: {"Transfer-Encoding"}}, sdk.HeaderEdits{},
			`--response-header-remove: "Transfer-Encoding" is a hop-by-hop or framing header that the edge writes itself`},
		{"host by add", map[string][]string{FlagRequestAdd: {"host: example.org"}}, sdk.HeaderEdits{},
			"--request-header-add cannot edit the Host header; use --host-header HOST (or --host-header rewrite)"},
		{"bad host", map[string][]string{FlagHostHeader: {"a b"}}, sdk.HeaderEdits{},
			`--host-header "a b" is not a host name or address with an optional port, like localhost:3000, or "rewrite"`},
		{"too many", map[string][]string{FlagRequestAdd: many}, sdk.HeaderEdits{}, "65 header edits given; at most 64 together"},
		{"too big", map[string][]string{FlagResponseAdd: {"X-Big: " + strings.Repeat("v", sdk.MaxHeaderEditBytes)}}, sdk.HeaderEdits{},
			"the header edits are 8197 bytes together; at most 8192"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := h.Open("t1", tc.values)
			if tc.wantErr != "" {
				msg, ok := sdk.AsUserError(err)
				if !ok || !strings.Contains(msg, tc.wantErr) {
					t.Fatalf("Open = %v, want the sentence %q", err, tc.wantErr)
				}
				if strings.Contains(msg, "evil") || strings.Contains(msg, "203.0.113.9") {
					t.Errorf("the sentence %q repeats the value", msg)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if res.Rules == nil || !reflect.DeepEqual(res.Rules.Headers, tc.want) {
				t.Fatalf("rules = %+v, want headers %+v", res.Rules, tc.want)
			}
			if rewrite := tc.values[FlagHostHeader]; len(rewrite) > 0 && rewrite[0] == Rewrite && !strings.Contains(res.Protection, "--host-header rewrite sends Host localhost") {
				t.Errorf("protection %q does not say what rewrite sends", res.Protection)
			}
		})
	}
}

func TestManifestSensitive(t *testing.T) {
	for _, f := range New().Manifest().Flags {
		if want := f.Name == FlagRequestAdd; f.Sensitive != want {
			t.Errorf("--%s sensitive = %v, want %v", f.Name, f.Sensitive, want)
		}
	}
}

func TestConfigureNoSettings(t *testing.T) {
	h := plugintest.Start(t, New())
	if err := h.Configure(map[string]any{"x": "y"}); err == nil {
		t.Error("Configure with a setting = nil, want an error")
	}
}

func FuzzParseEdits(f *testing.F) {
	for _, s := range []string{"X-Env: staging", "Host: x", "a\r\nb: c", "X-Forwarded-For: 1", "localhost:3000", "rewrite"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, field, host string) {
		e, err := ParseEdits(map[string][]string{FlagRequestAdd: {field}, FlagResponseRemove: {field}, FlagHostHeader: {host}})
		if err != nil {
			if _, ok := sdk.AsUserError(err); !ok {
				t.Fatalf("ParseEdits error %v is not a UserError", err)
			}
			return
		}
		if err := e.Validate(); err != nil {
			t.Fatalf("ParseEdits accepted edits the edge refuses: %v", err)
		}
	})
}
