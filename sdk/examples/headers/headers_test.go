package main

import (
	"net/http"
	"slices"
	"testing"

	"github.com/sshgress/sshgress/sdk"
	"github.com/sshgress/sshgress/sdk/plugintest"
)

func TestOpenTunnel(t *testing.T) {
	h := plugintest.Start(t, newPlugin())
	if err := h.Configure(map[string]any{"protected": []any{"X-Sshgress-User"}}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	tests := []struct {
		name       string
		add, rm    []string
		wantErr    string
		protection string
	}{
		{name: "add and remove", add: []string{"X-Env: staging", "X-Env: blue"}, rm: []string{"cookie"}, protection: "request headers (1 set, 1 removed)"},
		{name: "no colon", add: []string{"X-Env staging"}, wantErr: `--request-header-add needs "NAME: VALUE" (got no ":")`},
		{name: "bad name", add: []string{"X Env: staging"}, wantErr: `--request-header-add: "X Env" is not a valid header name`},
		{name: "control character", add: []string{"X-Env: a\x1bb"}, wantErr: `--request-header-add value for "X-Env" must not contain control characters`},
		{name: "edge-owned", rm: []string{"host"}, wantErr: `--request-header-remove: Host is managed by the edge`},
		{name: "protected", add: []string{"x-sshgress-user: root"}, wantErr: `--request-header-add: X-Sshgress-User is protected on this server`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := h.Open("t1", map[string][]string{flagAdd: tt.add, flagRemove: tt.rm})
			if tt.wantErr != "" {
				msg, ok := sdk.AsUserError(err)
				if !ok || msg != tt.wantErr {
					t.Errorf("Open error = %v, want user error %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if res.Protection != tt.protection {
				t.Errorf("protection = %q, want %q", res.Protection, tt.protection)
			}
		})
	}
}

func TestConfigureRejects(t *testing.T) {
	h := plugintest.Start(t, newPlugin())
	for _, section := range []map[string]any{
		{"nope": true},
		{"protected": "X-A"},
		{"protected": []any{"bad name"}},
	} {
		if err := h.Configure(section); err == nil {
			t.Errorf("Configure(%v) succeeded, want an error", section)
		}
	}
}

func TestCheck(t *testing.T) {
	h := plugintest.Start(t, newPlugin())
	if err := h.Configure(nil); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	if _, err := h.Open("t1", map[string][]string{flagAdd: {"X-Env: staging"}, flagRemove: {"Cookie"}}); err != nil {
		t.Fatalf("Open: %v", err)
	}
	req := plugintest.NewRequest("t1", "GET", "https://t1.localhost/")
	req.Header.Set("Cookie", "a=b")
	v, err := h.Check(req)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if v.Continue == nil {
		t.Fatalf("verdict = %+v, want continue", v)
	}
	if got := http.Header(v.Continue.SetHeaders).Get("X-Env"); got != "staging" {
		t.Errorf("X-Env = %q, want staging", got)
	}
	if !slices.Equal(v.Continue.RemoveHeaders, []string{"Cookie"}) {
		t.Errorf("remove = %q, want [Cookie]", v.Continue.RemoveHeaders)
	}
	if v.Cache == nil || len(v.Cache.DependsOn) != 0 || v.Cache.TTL != cacheTTL {
		t.Errorf("cache = %+v, want no headers and %v", v.Cache, cacheTTL)
	}
	if _, err := h.Check(plugintest.NewRequest("nope", "GET", "https://nope.localhost/")); err == nil {
		t.Error("Check for an unknown tunnel succeeded, want an error")
	}
}

// TestBinary builds the plugin and runs it as the edge does: a child
// process, handshake, AutoMTLS, no environment.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin binary")
	}
	h := plugintest.Exec(t, plugintest.Build(t, "."))
	if m := h.Manifest(); m.Name != "headers" || !m.HTTPMiddleware || len(m.Flags) != 2 {
		t.Errorf("manifest = %+v, want headers with two flags", m)
	}
	if err := h.Configure(nil); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	if _, err := h.Open("t1", map[string][]string{flagAdd: {"X-Env: prod"}}); err != nil {
		t.Fatalf("Open: %v", err)
	}
	v, err := h.Check(plugintest.NewRequest("t1", "GET", "http://t1.localhost/"))
	if err != nil || v.Continue == nil {
		t.Fatalf("Check = %+v, %v; want continue", v, err)
	}
}
