// Package verifywebhook is the bundled sshgress plugin behind ngrok's webhook
// verification on the http command:
//
//	ssh -R 443:localhost:3000 v2@edge http --verify-webhook github --verify-webhook-secret "$SECRET"
//
// A request whose signature does not verify under the provider's scheme
// (and, where the provider signs one, within its timestamp tolerance) is
// answered 403 and never reaches the tunnel's service; the owner's session
// gets a line saying why. Providers: github, gitlab, stripe, slack, twilio,
// shopify, svix (and standard-webhooks, the same scheme) and hmac-sha256,
// a generic HMAC-SHA256 of the body in a header of the owner's choosing
// (--verify-webhook-header, default X-Signature).
//
// It is the one bundled plugin that sees request bodies: signatures are
// computed over the exact bytes, so a digest cannot stand in for them. Its
// manifest sets RequestBody; the edge buffers each body up to its bound
// (http.middleware_body_limit, 1 MiB by default), answers 413 beyond it,
// and never caches this plugin's verdicts.
//
// The package imports sdk only, like every plugin.
package verifywebhook

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sshgress/sshgress/sdk"
)

const (
	// Name is the plugin's name in the edge's config.
	Name = "verifywebhook"
	// FlagProvider, FlagSecret and FlagHeader are the flags the plugin
	// owns on http; the first two are ngrok's names.
	FlagProvider = "verify-webhook"
	FlagSecret   = "verify-webhook-secret"
	FlagHeader   = "verify-webhook-header"
	// MaxSecretLen bounds a secret, in bytes.
	MaxSecretLen = 1024
	// DefaultHeader is where the hmac-sha256 provider reads the signature
	// without --verify-webhook-header.
	DefaultHeader = "X-Signature"
)

// version is the plugin's own version, reported in its manifest.
const version = "1.0.0"

// forbiddenBody is the small text body of every 403; it says nothing of
// the expected signature.
const forbiddenBody = "403 Forbidden\n\nThe webhook signature of this request did not verify, so it was not passed on.\n"

// tunnel is one tunnel's verifier.
type tunnel struct {
	provider *provider
	v        verifier
	url      string // the tunnel's public URL (scheme, host, port), for Twilio
}

// plugin implements sdk.HTTPMiddleware.
type plugin struct {
	mu      sync.RWMutex
	tunnels map[string]tunnel
	now     func() time.Time // the clock timestamps are checked against
}

var (
	_ sdk.HTTPMiddleware = (*plugin)(nil)
	_ sdk.TunnelHooks    = (*plugin)(nil)
)

// New returns the verifywebhook plugin, ready for sdk.Serve(verifywebhook.New()).
func New() sdk.HTTPMiddleware {
	return &plugin{tunnels: map[string]tunnel{}, now: time.Now}
}

// Manifest declares the flags for http tunnels and asks for bodies.
func (p *plugin) Manifest() sdk.Manifest {
	http := []string{"http"}
	return sdk.Manifest{
		Name:        Name,
		Version:     version,
		RequestBody: true,
		Flags: []sdk.FlagSpec{
			{Name: FlagProvider, Type: sdk.FlagString, ValueName: "PROVIDER", Commands: http,
				Help: "Answer 403 to requests not signed by PROVIDER with --verify-webhook-secret: " + strings.Join(providerNames(), ", ") + "."},
			{Name: FlagSecret, Type: sdk.FlagString, ValueName: "SECRET", Commands: http, Sensitive: true,
				Help: "The signing secret the provider gave you (Twilio: the auth token; svix: whsec_…)."},
			{Name: FlagHeader, Type: sdk.FlagString, ValueName: "NAME", Commands: http,
				Help: "For --verify-webhook hmac-sha256: the header holding the hex or base64 HMAC-SHA256 of the body (default " + DefaultHeader + ")."},
		},
	}
}

// Configure accepts an empty section only: the plugin has no settings.
func (p *plugin) Configure(_ context.Context, cfg sdk.Config) error {
	return cfg.NoSettings(Name)
}

// OpenTunnel validates the flags and keeps the tunnel's verifier. A bad
// value refuses the tunnel with a sentence that never shows the secret.
func (p *plugin) OpenTunnel(_ context.Context, t sdk.Tunnel) (sdk.OpenResult, error) {
	name, secret, header := last(t.Values[FlagProvider]), last(t.Values[FlagSecret]), last(t.Values[FlagHeader])
	switch {
	case name == "":
		return sdk.OpenResult{}, sdk.UserErrorf("--%s needs --%s PROVIDER to say whose signatures to check (%s).", FlagSecret, FlagProvider, strings.Join(providerNames(), ", "))
	case secret == "":
		return sdk.OpenResult{}, sdk.UserErrorf("--%s %s needs --%s SECRET, the signing secret %s gave you.", FlagProvider, name, FlagSecret, name)
	case len(secret) > MaxSecretLen:
		return sdk.OpenResult{}, sdk.UserErrorf("--%s is %d bytes long; at most %d are accepted.", FlagSecret, len(secret), MaxSecretLen)
	}
	pr := lookup(name)
	if pr == nil {
		return sdk.OpenResult{}, sdk.UserErrorf("--%s: unknown provider %q; use one of %s.", FlagProvider, name, strings.Join(providerNames(), ", "))
	}
	if header != "" && pr.name != hmacSHA256 {
		return sdk.OpenResult{}, sdk.UserErrorf("--%s applies to --%s %s only (%s signs in its own header).", FlagHeader, FlagProvider, hmacSHA256, pr.name)
	}
	if header == "" {
		header = DefaultHeader
	}
	if !validHeaderName(header) {
		return sdk.OpenResult{}, sdk.UserErrorf("--%s: %q is not a valid header name.", FlagHeader, header)
	}
	v, err := pr.make(secret, http.CanonicalHeaderKey(header))
	if err != nil {
		return sdk.OpenResult{}, err
	}
	p.mu.Lock()
	p.tunnels[t.ID] = tunnel{provider: pr, v: v, url: strings.TrimSuffix(t.URL, "/")}
	p.mu.Unlock()
	return sdk.OpenResult{Protection: "webhook signatures (" + pr.title + ")"}, nil
}

// CloseTunnel forgets the tunnel's secret.
func (p *plugin) CloseTunnel(_ context.Context, tunnelID string) error {
	p.mu.Lock()
	delete(p.tunnels, tunnelID)
	p.mu.Unlock()
	return nil
}

// Check lets a request whose signature verifies continue, unchanged, and
// answers every other one 403 with a note for the owner saying why.
func (p *plugin) Check(_ context.Context, req *sdk.Request) (sdk.Verdict, error) {
	p.mu.RLock()
	t, ok := p.tunnels[req.TunnelID]
	p.mu.RUnlock()
	if !ok {
		return sdk.Verdict{}, fmt.Errorf("verifywebhook: check: tunnel %q is not open", req.TunnelID)
	}
	if req.Body == nil {
		return sdk.Verdict{}, fmt.Errorf("verifywebhook: check: the edge sent no body (it must honour Manifest.RequestBody)")
	}
	err := t.v.verify(signed{req: req, url: t.url, now: p.now()})
	if err == nil {
		return sdk.Verdict{Continue: &sdk.Continue{}}, nil
	}
	return sdk.Verdict{Respond: &sdk.Response{
		Status: http.StatusForbidden,
		Header: http.Header{
			"Content-Type":  {"text/plain; charset=utf-8"},
			"Cache-Control": {"no-store"},
		},
		Body:      []byte(forbiddenBody),
		OwnerNote: fmt.Sprintf("webhook signature did not verify (%s): %v", t.provider.title, err),
	}}, nil
}

// last is the last value given for a single-valued flag, or "".
func last(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// validHeaderName reports whether s is an HTTP token.
func validHeaderName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	return !slices.ContainsFunc([]byte(s), func(c byte) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0)
	})
}
