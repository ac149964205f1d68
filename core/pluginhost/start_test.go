package pluginhost

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/usererr"
	"github.com/sshgress/sshgress/sdk"
)

func TestStartDescribesAndConfigures(t *testing.T) {
	h, _ := startHost(t, []Spec{{Name: "basicauth"}, {Name: "misbehave"}}, Options{})
	ms := h.Manifests()
	if len(ms) != 2 || ms[0].Name != "basicauth" || ms[1].Name != "misbehave" {
		t.Fatalf("Manifests = %+v, want basicauth and misbehave", ms)
	}
	if !ms[0].HTTPMiddleware || ms[0].APIVersion != sdk.APIVersion {
		t.Errorf("basicauth manifest = %+v, want an http middleware of api %d", ms[0], sdk.APIVersion)
	}
	flags := h.Flags()
	if got := flags["basicauth"]; len(got) != 1 || got[0].Name != "basic-auth" || !got[0].Sensitive {
		t.Errorf("Flags()[basicauth] = %+v, want the sensitive basic-auth flag", got)
	}
	if got := flags["misbehave"]; len(got) != 1 || got[0].Name != "misbehave" {
		t.Errorf("Flags()[misbehave] = %+v, want the misbehave flag", got)
	}
}

func TestStartErrors(t *testing.T) {
	sum := fileSHA256(t, testBin)
	tests := []struct {
		name  string
		specs []Spec
		opts  Options
		want  []string
	}{
		{
			name:  "flag conflict",
			specs: []Spec{{Name: "basicauth"}, {Name: "conflict"}},
			want:  []string{`"basicauth"`, `"conflict"`, "--basic-auth"},
		},
		{
			name:  "wrong sha256",
			specs: []Spec{{Name: "basicauth", Path: testBin, SHA256: strings.Repeat("ab", 32)}},
			want:  []string{`plugin "basicauth": checksum mismatch for ` + testBin + `: the file's sha256 is not the configured one`},
		},
		{
			name:  "missing sha256",
			specs: []Spec{{Name: "basicauth", Path: testBin}},
			want:  []string{`plugin "basicauth"`, "sha256 is required"},
		},
		{
			name:  "configure error",
			specs: []Spec{{Name: "basicauth", Config: map[string]any{"realm": "x"}}},
			want:  []string{`plugin "basicauth"`, `unknown setting "realm"`},
		},
		{
			name:  "manifest names another plugin",
			specs: []Spec{{Name: "misnamed"}},
			want:  []string{`plugin "misnamed"`, `its manifest names it "other"`},
		},
		{
			name:  "bundled plugin that does not exist",
			specs: []Spec{{Name: "nosuch"}},
			want:  []string{`plugin "nosuch"`},
		},
		{
			name:  "third-party path given as the wrong plugin",
			specs: []Spec{{Name: "other", Path: testBin, SHA256: sum}},
			want:  []string{`plugin "other"`, `its manifest names it "basicauth"`},
		},
		{
			name:  "duplicate",
			specs: []Spec{{Name: "basicauth"}, {Name: "basicauth"}},
			want:  []string{`plugin "basicauth" is enabled twice`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.Bundled = bundled
			opts.StartTimeout = 5 * time.Second
			h, err := Start(context.Background(), tt.specs, opts)
			if err == nil {
				h.Close()
				t.Fatalf("Start succeeded, want an error containing %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	if n := countPluginProcesses(t); n != 0 {
		t.Errorf("%d plugin processes left after failed starts, want 0", n)
	}
}

func TestStartThirdParty(t *testing.T) {
	h, _ := startHost(t, []Spec{{Name: "basicauth", Path: testBin, SHA256: strings.ToUpper(fileSHA256(t, testBin))}}, Options{})
	c, err := h.Open(context.Background(), basicTunnel("t1", "ann:correct-horse"), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer c.Close()
	d, err := c.Check(get(basic("ann", "correct-horse")), client, nil)
	if err != nil || d.Respond {
		t.Errorf("Check = %+v, %v; want continue", d, err)
	}
}

func TestOpenRefusal(t *testing.T) {
	h, _ := startHost(t, []Spec{{Name: "basicauth"}, {Name: "misbehave"}}, Options{})
	tests := []struct {
		name   string
		values map[string]map[string][]string
		want   string
	}{
		{"short password", map[string]map[string][]string{"basicauth": {"basic-auth": {"ann:1234567"}}},
			`--basic-auth password for "ann" must be 8 to 128 characters (got 7)`},
		{"no colon", map[string]map[string][]string{"basicauth": {"basic-auth": {"ann"}}},
			`--basic-auth needs USER:PASSWORD (got no ":")`},
		{"escape sequences are stripped", map[string]map[string][]string{"misbehave": {"misbehave": {"refuse"}}},
			`--misbehave  [31mrefused [0m`},
		{"second plugin refuses", map[string]map[string][]string{
			"basicauth": {"basic-auth": {"ann:correct-horse"}},
			"misbehave": {"misbehave": {"refuse"}},
		}, `--misbehave  [31mrefused [0m`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := h.Open(context.Background(), httpTunnel("t1", tt.values), nil)
			if err == nil {
				c.Close()
				t.Fatal("Open succeeded, want a refusal")
			}
			if !usererr.Is(err) {
				t.Fatalf("error %v is not a user error", err)
			}
			if got := usererr.Message(err, ""); got != tt.want {
				t.Errorf("message = %q, want %q", got, tt.want)
			}
		})
	}
	for _, p := range h.plugins {
		if n := len(p.tunnels); n != 0 {
			t.Errorf("plugin %s still has %d tunnels registered after refusals", p.spec.Name, n)
		}
	}
}
