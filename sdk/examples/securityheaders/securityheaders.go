package main

import (
	"context"
	"fmt"
	"mime"
	"net/http"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/sshgress/sshgress/sdk"
)

const (
	// flagSecurityHeaders turns the plugin on for a tunnel.
	flagSecurityHeaders = "security-headers"
	// cacheTTL is how long the edge may reuse an answer: it depends on
	// the tunnel and on the headers named in dependsOn only.
	cacheTTL = 5 * time.Minute
	// hsts is the Strict-Transport-Security value added to HTML pages
	// (two years, as hstspreload.org asks). Browsers ignore it over
	// plain HTTP.
	hsts = "max-age=63072000; includeSubDomains"
	// defaultCSP is the Content-Security-Policy added to HTML pages that
	// set none, unless the operator configures another: it forbids being
	// framed by other sites and breaks no script of the page.
	defaultCSP = "frame-ancestors 'self'"
)

// dependsOn are the response headers an answer depends on: the edge reuses
// it for responses with the same status and the same values of these.
var dependsOn = []string{"Content-Type", "Content-Security-Policy"}

// plugin implements sdk.HTTPMiddleware and sdk.ResponseReviewer.
type plugin struct {
	mu      sync.RWMutex
	csp     string
	tunnels map[string]bool // tunnels with --security-headers
}

var (
	_ sdk.HTTPMiddleware   = (*plugin)(nil)
	_ sdk.ResponseReviewer = (*plugin)(nil)
	_ sdk.TunnelHooks      = (*plugin)(nil)
)

func newPlugin() *plugin {
	return &plugin{csp: defaultCSP, tunnels: make(map[string]bool)}
}

// Manifest declares the one flag, for http tunnels only. Serve sets
// HTTPMiddleware and ResponseHead from the type.
func (p *plugin) Manifest() sdk.Manifest {
	return sdk.Manifest{
		Name:    "securityheaders",
		Version: "0.1.0",
		Flags: []sdk.FlagSpec{{
			Name: flagSecurityHeaders, Type: sdk.FlagBool,
			Help:     "Add HSTS, X-Content-Type-Options and a Content-Security-Policy to HTML responses.",
			Commands: []string{"http"},
		}},
	}
}

// settings is the plugin's config section.
type settings struct {
	// ContentSecurityPolicy replaces defaultCSP.
	ContentSecurityPolicy string `json:"content_security_policy"`
}

// Configure reads the optional content_security_policy.
func (p *plugin) Configure(_ context.Context, cfg sdk.Config) error {
	s := settings{ContentSecurityPolicy: defaultCSP}
	if err := cfg.Decode(&s); err != nil {
		return fmt.Errorf("securityheaders: configure: %w", err)
	}
	if s.ContentSecurityPolicy == "" || !httpguts.ValidHeaderFieldValue(s.ContentSecurityPolicy) {
		return fmt.Errorf("securityheaders: configure: content_security_policy must be one line of text")
	}
	p.mu.Lock()
	p.csp = s.ContentSecurityPolicy
	p.mu.Unlock()
	return nil
}

// OpenTunnel remembers whether the tunnel asked for the headers.
func (p *plugin) OpenTunnel(_ context.Context, t sdk.Tunnel) (sdk.OpenResult, error) {
	on := len(t.Values[flagSecurityHeaders]) > 0 && t.Values[flagSecurityHeaders][0] == "true"
	p.mu.Lock()
	p.tunnels[t.ID] = on
	p.mu.Unlock()
	if !on {
		return sdk.OpenResult{}, nil
	}
	return sdk.OpenResult{Protection: "security headers on HTML responses"}, nil
}

// CloseTunnel forgets the tunnel.
func (p *plugin) CloseTunnel(_ context.Context, id string) error {
	p.mu.Lock()
	delete(p.tunnels, id)
	p.mu.Unlock()
	return nil
}

// Check lets every request go on: the plugin works on responses. The
// verdict depends on nothing, so the edge caches it for the tunnel.
func (p *plugin) Check(context.Context, *sdk.Request) (sdk.Verdict, error) {
	return sdk.Verdict{Continue: &sdk.Continue{}, Cache: &sdk.CacheHint{TTL: cacheTTL}}, nil
}

// ReviewResponse adds the headers to an HTML response and keeps a
// Content-Security-Policy the service set itself. It answers no edits for
// anything else.
func (p *plugin) ReviewResponse(_ context.Context, head *sdk.ResponseHead) (sdk.ResponseEdits, error) {
	p.mu.RLock()
	on, open := p.tunnels[head.TunnelID]
	csp := p.csp
	p.mu.RUnlock()
	if !open {
		return sdk.ResponseEdits{}, fmt.Errorf("securityheaders: review response: tunnel %q is not open", head.TunnelID)
	}
	e := sdk.ResponseEdits{Cache: &sdk.CacheHint{DependsOn: dependsOn, TTL: cacheTTL}}
	if !on || !isHTML(head.Header.Get("Content-Type")) {
		return e, nil
	}
	e.SetHeaders = http.Header{
		"Strict-Transport-Security": {hsts},
		"X-Content-Type-Options":    {"nosniff"},
	}
	if head.Header.Get("Content-Security-Policy") == "" {
		e.SetHeaders.Set("Content-Security-Policy", csp)
	}
	return e, nil
}

// isHTML reports whether a Content-Type names an HTML document.
func isHTML(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "text/html"
}
