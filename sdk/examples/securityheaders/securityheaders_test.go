package main

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/sshgress/sshgress/sdk/plugintest"
)

func TestManifest(t *testing.T) {
	h := plugintest.Start(t, newPlugin())
	if m := h.Manifest(); !m.HTTPMiddleware || !m.ResponseHead {
		t.Errorf("manifest has HTTPMiddleware %v, ResponseHead %v; want both", m.HTTPMiddleware, m.ResponseHead)
	}
}

func TestReviewResponse(t *testing.T) {
	h := plugintest.Start(t, newPlugin())
	if err := h.Configure(nil); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	res, err := h.Open("t1", map[string][]string{flagSecurityHeaders: {"true"}})
	if err != nil || res.Protection != "security headers on HTML responses" {
		t.Fatalf("Open = %+v, %v", res, err)
	}
	tests := []struct {
		name    string
		header  []string
		wantSet map[string]string // "" for none
	}{
		{"html", []string{"Content-Type", "text/html; charset=utf-8"}, map[string]string{
			"Strict-Transport-Security": hsts, "X-Content-Type-Options": "nosniff", "Content-Security-Policy": defaultCSP}},
		{"html keeps its own csp", []string{"Content-Type", "TEXT/HTML", "Content-Security-Policy", "default-src 'none'"}, map[string]string{
			"Strict-Transport-Security": hsts, "X-Content-Type-Options": "nosniff"}},
		{"json", []string{"Content-Type", "application/json"}, nil},
		{"no content type", nil, nil},
		{"html-ish", []string{"Content-Type", "text/htmlx"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := h.ReviewResponse(plugintest.NewResponseHead("t1", "https://t1.localhost/", 200, tt.header...))
			if err != nil {
				t.Fatalf("ReviewResponse: %v", err)
			}
			if len(e.SetHeaders) != len(tt.wantSet) || len(e.RemoveHeaders) != 0 {
				t.Errorf("edits set %v, remove %v; want set %v", e.SetHeaders, e.RemoveHeaders, tt.wantSet)
			}
			for k, v := range tt.wantSet {
				if got := http.Header(e.SetHeaders).Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if e.Cache == nil || !slices.Equal(e.Cache.DependsOn, dependsOn) || e.Cache.TTL != cacheTTL {
				t.Errorf("cache hint %+v, want one depending on %v for %v", e.Cache, dependsOn, cacheTTL)
			}
		})
	}
	if _, err := h.ReviewResponse(plugintest.NewResponseHead("nope", "https://nope.localhost/", 200)); err == nil {
		t.Error("ReviewResponse for a tunnel that is not open succeeded, want an error")
	}
}

func TestConfigure(t *testing.T) {
	h := plugintest.Start(t, newPlugin())
	for _, tt := range []struct {
		section map[string]any
		want    string // "" for success
	}{
		{map[string]any{"content_security_policy": "default-src 'self'"}, ""},
		{map[string]any{"content_security_policy": "a\r\nb"}, "one line"},
		{map[string]any{"nope": true}, "unknown setting"},
	} {
		err := h.Configure(tt.section)
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("Configure(%v) = %v, want %q", tt.section, err, tt.want)
		}
	}
	if _, err := h.Open("t1", map[string][]string{flagSecurityHeaders: {"true"}}); err != nil {
		t.Fatal(err)
	}
	if err := h.Configure(map[string]any{"content_security_policy": "default-src 'self'"}); err != nil {
		t.Fatal(err)
	}
	e, err := h.ReviewResponse(plugintest.NewResponseHead("t1", "https://t1.localhost/", 200, "Content-Type", "text/html"))
	if err != nil || http.Header(e.SetHeaders).Get("Content-Security-Policy") != "default-src 'self'" {
		t.Errorf("configured policy: edits %v, %v; want default-src 'self'", e.SetHeaders, err)
	}
}
