package pluginhost

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sshgress/sshgress/sdk"
)

func TestCheckAllowDeny(t *testing.T) {
	h, _ := startHost(t, []Spec{{Name: "basicauth"}}, Options{})
	c, err := h.Open(context.Background(), basicTunnel("t1", "ann:correct-horse", "bob:battery-staple"), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer c.Close()
	if got := c.Protection(); len(got) != 1 || got[0] != "basic auth (2 users)" {
		t.Errorf("Protection = %q, want [basic auth (2 users)]", got)
	}
	if c.Empty() {
		t.Error("Empty() = true for a basic-auth chain")
	}
	tests := []struct {
		name     string
		auth     string
		wantUser string
	}{
		{"no credentials", "", ""},
		{"wrong password", basic("ann", "wrong-horse"), ""},
		{"malformed", "Basic %%%", ""},
		{"ann", basic("ann", "correct-horse"), "ann"},
		{"bob", basic("bob", "battery-staple"), "bob"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(tt.auth)
			d, err := c.Check(r, client, &sdk.TLSFacts{ServerName: "t1.localhost", Version: 0x0304})
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if tt.wantUser == "" {
				if !d.Respond || d.Status != 401 || d.Header.Get("Www-Authenticate") != `Basic realm="sshgress", charset="UTF-8"` {
					t.Errorf("decision = %+v, want 401 with the Basic challenge", d)
				}
				return
			}
			if d.Respond {
				t.Fatalf("decision = %+v, want continue", d)
			}
			if d.Identity == nil || d.Identity.ID != tt.wantUser {
				t.Errorf("identity = %+v, want %q", d.Identity, tt.wantUser)
			}
			d.Apply(r)
			if got := r.Header.Get("Authorization"); got != "" {
				t.Errorf("Authorization after Apply = %q, want removed", got)
			}
		})
	}
}

func TestEmptyChain(t *testing.T) {
	h, _ := startHost(t, []Spec{{Name: "basicauth"}}, Options{})
	c, err := h.Open(context.Background(), httpTunnel("t1", nil), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer c.Close()
	if !c.Empty() || len(c.Protection()) != 0 {
		t.Errorf("chain without flags: Empty=%v Protection=%q, want true and none", c.Empty(), c.Protection())
	}
	if d, err := c.Check(get(""), client, nil); err != nil || d.Respond {
		t.Errorf("Check on an empty chain = %+v, %v; want continue", d, err)
	}
	if h.Calls() != 0 {
		t.Errorf("Calls = %d, want 0", h.Calls())
	}
}

func TestCheckCache(t *testing.T) {
	h, _ := startHost(t, []Spec{{Name: "basicauth"}}, Options{})
	c, err := h.Open(context.Background(), basicTunnel("t1", "ann:correct-horse"), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer c.Close()
	steps := []struct {
		auth      string
		wantCalls uint64
		wantAllow bool
	}{
		{basic("ann", "correct-horse"), 1, true},
		{basic("ann", "correct-horse"), 1, true}, // cached
		{basic("ann", "wrong-horse!"), 2, false},
		{basic("ann", "wrong-horse!"), 2, false}, // denials are cached too
		{"", 3, false},
		{basic("ann", "correct-horse"), 3, true},
	}
	for i, s := range steps {
		d, err := c.Check(get(s.auth), client, nil)
		if err != nil {
			t.Fatalf("step %d: Check: %v", i, err)
		}
		if d.Respond == s.wantAllow {
			t.Errorf("step %d: respond = %v, want %v", i, d.Respond, !s.wantAllow)
		}
		if got := h.Calls(); got != s.wantCalls {
			t.Errorf("step %d: Calls = %d, want %d", i, got, s.wantCalls)
		}
	}
	// A cached verdict must not be changed by a caller editing a decision.
	d, _ := c.Check(get(""), client, nil)
	d.Header.Set("Www-Authenticate", "tampered")
	d, _ = c.Check(get(""), client, nil)
	if got := d.Header.Get("Www-Authenticate"); got == "tampered" {
		t.Error("editing a decision changed the cached verdict")
	}
}

func TestCheckFailsClosed(t *testing.T) {
	h, _ := startHost(t, []Spec{{Name: "misbehave"}}, Options{CallTimeout: 150 * time.Millisecond})
	tests := []struct {
		mode string
		want string
	}{
		{"slow", "no answer within 150ms"},
		{"status", "status 42 is outside 100-599"},
		{"empty", "neither continue nor respond"},
		{"panic", "panicked"},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			c, err := h.Open(context.Background(), httpTunnel(tt.mode, map[string]map[string][]string{"misbehave": {"misbehave": {tt.mode}}}), nil)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer c.Close()
			start := time.Now()
			d, err := c.Check(get(""), client, nil)
			elapsed := time.Since(start)
			if err == nil {
				t.Fatalf("Check = %+v, want an error (fail closed)", d)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), `plugin "misbehave"`) {
				t.Errorf("error %q does not name the plugin and %q", err, tt.want)
			}
			if elapsed > time.Second {
				t.Errorf("Check took %v, want about the call timeout", elapsed)
			}
		})
	}
}

func TestContinueEditsAndCacheWithoutHeaders(t *testing.T) {
	h, _ := startHost(t, []Spec{{Name: "basicauth"}, {Name: "misbehave"}}, Options{})
	c, err := h.Open(context.Background(), httpTunnel("t1", map[string]map[string][]string{
		"basicauth": {"basic-auth": {"ann:correct-horse"}},
		"misbehave": {"misbehave": {"ok"}},
	}), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer c.Close()
	if got := c.Protection(); len(got) != 2 || got[0] != "basic auth (1 user)" || got[1] != "test ok" {
		t.Errorf("Protection = %q, want basicauth's line then misbehave's", got)
	}
	for i := range 3 {
		r := get(basic("ann", "correct-horse"))
		d, err := c.Check(r, client, nil)
		if err != nil || d.Respond {
			t.Fatalf("request %d: Check = %+v, %v; want continue", i, d, err)
		}
		d.Apply(r)
		if r.Header.Get("Authorization") != "" || r.Header.Get("X-Test") != "ok" {
			t.Errorf("request %d: headers after Apply = %v, want Authorization removed and X-Test set", i, r.Header)
		}
	}
	if got := h.Calls(); got != 2 {
		t.Errorf("Calls = %d, want 2 (one per plugin, then cached)", got)
	}
}
