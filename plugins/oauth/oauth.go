// Package oauth is the bundled sshgress plugin behind --oauth: a sign-in
// with Google, GitHub, Microsoft, GitLab or any OpenID Connect provider in
// front of a tunnel.
//
//	ssh -R 443:localhost:3000 v2@edge http --oauth=google --oauth-allow-domain example.com
//
// Providers accept only registered redirect URIs while tunnel hosts are
// random, so every provider calls back on one auth host (config auth_host,
// default "auth.<base domain>"), which has no tunnel; the edge hands its
// /oauth2/ requests to this plugin (pluginhost.Host.CheckReserved). The
// flow, with H the tunnel host and A the auth host:
//
//  1. A browser request to H without a session gets a host-only login
//     cookie on H and a 302 to A/oauth2/start carrying a sealed, short-lived
//     start request (H's origin, the original path, provider, scopes).
//     Requests without text/html in Accept get 401 instead.
//  2. A sets a state cookie (state, PKCE S256 verifier, OIDC nonce) and
//     redirects to the provider.
//  3. The provider calls back on A/oauth2/callback. The plugin checks the
//     state against the cookie, redeems the code, and reads the identity:
//     for OIDC providers it verifies the ID token (issuer, audience, expiry,
//     nonce) and requires email_verified; for GitHub it asks the API for the
//     primary verified email. Redeeming runs in the background, so a slow
//     provider gets a short "signing you in" page that reloads instead of a
//     503 from the edge's Check deadline.
//  4. If the tunnel's allow rules admit the email, A issues a single-use
//     ticket, valid TicketTTL and bound to H and to H's login cookie, and
//     redirects to H/oauth2/exchange, which sets the session cookie
//     __Host-sshgress_session (Secure, HttpOnly, SameSite=Lax, Path=/) and
//     redirects to the original path — always a relative path on H.
//
// Sessions, tickets and states are sealed with AES-256-GCM under keys
// derived from the session key, so sessions survive a plugin restart and
// work on every edge node sharing the key. The set of used tickets is kept
// in memory only: after a restart a ticket could be redeemed once more
// within its TicketTTL, by the browser that holds the matching login cookie.
//
// Allowed requests go upstream with X-Sshgress-User-Email, -User-Name and
// -User-Id (the provider's subject) set by the plugin, any visitor-sent
// X-Sshgress-* header removed, and the plugin's own cookies cut from the
// Cookie header. Verdicts are never cached: sessions rotate.
//
// The package imports sdk only, like every plugin.
package oauth

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sshgress/sshgress/sdk"
)

const (
	// Name is the plugin's name in the edge's config.
	Name = "oauth"

	// FlagProvider selects the provider: --oauth PROVIDER.
	FlagProvider = "oauth"
	// FlagAllowEmail admits one email address; repeatable.
	FlagAllowEmail = "oauth-allow-email"
	// FlagAllowDomain admits every email address of a domain; repeatable.
	FlagAllowDomain = "oauth-allow-domain"
	// FlagScope asks the provider for an extra scope; repeatable.
	FlagScope = "oauth-scope"

	// PathPrefix is the path the plugin reserves on every host it serves.
	PathPrefix = "/oauth2/"
	// PathStart on the auth host begins a sign-in at the provider.
	PathStart = "/oauth2/start"
	// PathCallback on the auth host is the redirect URI to register with
	// every provider.
	PathCallback = "/oauth2/callback"
	// PathExchange on a tunnel host turns a ticket into a session cookie.
	PathExchange = "/oauth2/exchange"
	// PathLogin on a tunnel host starts a sign-in explicitly; with
	// switch=1 it asks the provider to let the visitor pick an account.
	PathLogin = "/oauth2/login"
	// PathLogout on a tunnel host ends the session on that host.
	PathLogout = "/oauth2/logout"

	// HeaderEmail, HeaderName and HeaderID carry the signed-in identity
	// upstream.
	HeaderEmail = "X-Sshgress-User-Email"
	// HeaderName carries the display name upstream.
	HeaderName = "X-Sshgress-User-Name"
	// HeaderID carries the provider's stable subject upstream.
	HeaderID = "X-Sshgress-User-Id"

	// TicketTTL is how long a ticket from the auth host stays valid.
	TicketTTL = 60 * time.Second
	// LoginTTL bounds a sign-in from the first redirect to the callback.
	LoginTTL = 10 * time.Minute

	// MaxAllowRules bounds each of --oauth-allow-email and
	// --oauth-allow-domain per tunnel.
	MaxAllowRules = 100
	// MaxScopes bounds --oauth-scope per tunnel.
	MaxScopes = 20
)

// version is the plugin's own version, reported in its manifest.
const version = "1.0.0"

// plugin implements sdk.HTTPMiddleware.
type plugin struct {
	now func() time.Time

	mu      sync.RWMutex
	cfg     *settings          // nil until Configure
	tunnels map[string]*tunnel // by tunnel ID
	logger  *slog.Logger

	logins *loginState
}

// tunnel is one open tunnel's parsed flags.
type tunnel struct {
	id       string
	host     string
	origin   string // scheme://host[:port] from the tunnel URL
	provider string
	scopes   []string
	allow    allowRules
}

var (
	_ sdk.HTTPMiddleware = (*plugin)(nil)
	_ sdk.TunnelHooks    = (*plugin)(nil)
)

// New returns the OAuth plugin, ready for sdk.Serve(oauth.New()).
func New() sdk.HTTPMiddleware { return newPlugin() }

func newPlugin() *plugin {
	return &plugin{
		now:     time.Now,
		tunnels: make(map[string]*tunnel),
		logger:  slog.New(slog.DiscardHandler),
		logins:  newLoginState(),
	}
}

// Manifest declares the four --oauth flags for http tunnels, reserves
// /oauth2/ and serves the auth host: auth.<base domain>, and the
// auth_host setting when the operator sets one. The edge keeps both from
// tunnels even while the plugin is disabled, so enabling it later cannot
// collide with a tunnel holding the host.
func (p *plugin) Manifest() sdk.Manifest {
	http := []string{"http"}
	return sdk.Manifest{
		Name:          Name,
		Authenticates: true,
		Version:       version,
		Flags: []sdk.FlagSpec{
			{Name: FlagProvider, Type: sdk.FlagString, ValueName: "PROVIDER", Commands: http,
				Help: "Require sign-in with an OAuth provider configured on this server (google, github, microsoft, gitlab or another name)."},
			{Name: FlagAllowEmail, Type: sdk.FlagString, Repeatable: true, ValueName: "EMAIL", Commands: http,
				Help: "With --oauth, admit this email address; repeatable."},
			{Name: FlagAllowDomain, Type: sdk.FlagString, Repeatable: true, ValueName: "DOMAIN", Commands: http,
				Help: "With --oauth, admit every email address at this domain; repeatable."},
			{Name: FlagScope, Type: sdk.FlagString, Repeatable: true, ValueName: "SCOPE", Commands: http,
				Help: "With --oauth, ask the provider for this extra scope; repeatable."},
		},
		ReservedPaths: []string{PathPrefix},
		ServedHosts:   []sdk.ServedHost{{Label: defaultAuthLabel, Setting: "auth_host"}},
	}
}

// ServedHosts is the auth host this config resolved (sdk.HostServer).
func (p *plugin) ServedHosts() []string {
	s, err := p.settings()
	if err != nil {
		return nil
	}
	return []string{s.authHost}
}

// Configure reads the operator's settings (see docs/oauth.md) and loads or
// creates the session key.
func (p *plugin) Configure(ctx context.Context, cfg sdk.Config) error {
	s, err := parseSettings(cfg)
	if err != nil {
		return fmt.Errorf("oauth: configure: %w", err)
	}
	key, err := loadSessionKey(s.sessionKey, cfg.DataDir)
	if err != nil {
		return fmt.Errorf("oauth: configure: %w", err)
	}
	if s.seal, err = newSealer(key); err != nil {
		return fmt.Errorf("oauth: configure: %w", err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	for _, name := range s.providerNames() {
		s.providers[name].prepare(ctx, logger)
	}
	p.mu.Lock()
	p.cfg = s
	p.logger = logger
	p.mu.Unlock()
	return nil
}

// settings returns the current configuration, or an error before
// Configure.
func (p *plugin) settings() (*settings, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.cfg == nil {
		return nil, fmt.Errorf("oauth: not configured")
	}
	return p.cfg, nil
}

func (p *plugin) log() *slog.Logger {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.logger
}

// OpenTunnel validates the tunnel's --oauth flags.
func (p *plugin) OpenTunnel(_ context.Context, t sdk.Tunnel) (sdk.OpenResult, error) {
	s, err := p.settings()
	if err != nil {
		return sdk.OpenResult{}, err
	}
	tun, err := parseTunnel(s, t)
	if err != nil {
		return sdk.OpenResult{}, err
	}
	p.mu.Lock()
	p.tunnels[t.ID] = tun
	p.mu.Unlock()
	return sdk.OpenResult{Protection: fmt.Sprintf("OAuth (%s) — %s", tun.provider, tun.allow.describe())}, nil
}

// parseTunnel checks a tunnel's flag values against the settings. Errors
// are sdk.UserErrors.
func parseTunnel(s *settings, t sdk.Tunnel) (*tunnel, error) {
	provider := t.Values[FlagProvider]
	if len(provider) == 0 {
		for _, f := range []string{FlagAllowEmail, FlagAllowDomain, FlagScope} {
			if len(t.Values[f]) > 0 {
				return nil, sdk.UserErrorf("--%s needs --oauth PROVIDER", f)
			}
		}
		return nil, sdk.UserErrorf("--oauth needs a provider, e.g. --oauth=google")
	}
	if len(provider) > 1 {
		return nil, sdk.UserErrorf("--oauth can be given only once")
	}
	name := strings.ToLower(strings.TrimSpace(provider[0]))
	if _, ok := s.providers[name]; !ok {
		names := s.providerNames()
		if len(names) == 0 {
			return nil, sdk.UserErrorf("--oauth: this server has no OAuth providers configured; ask its operator to add one")
		}
		return nil, sdk.UserErrorf("--oauth: provider %q is not configured on this server; configured: %s", userText(provider[0], 64), strings.Join(names, ", "))
	}
	u, err := url.Parse(t.URL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("oauth: open tunnel %s: tunnel URL %q is not an http(s) URL", t.ID, t.URL)
	}
	host := strings.ToLower(t.Host)
	if host == "" {
		host = strings.ToLower(u.Hostname())
	}
	if u.Scheme != "https" && !isLocalhost(host) {
		return nil, sdk.UserErrorf("--oauth needs HTTPS, and this server gives the tunnel only %s; ask its operator to enable HTTPS", u.Scheme+"://"+u.Host)
	}
	if host == s.authHost {
		return nil, sdk.UserErrorf("--oauth: the host %s is the server's sign-in host and cannot be a tunnel; choose another name", host)
	}
	allow, err := parseAllowRules(t.Values[FlagAllowEmail], t.Values[FlagAllowDomain])
	if err != nil {
		return nil, err
	}
	scopes, err := parseScopes(t.Values[FlagScope])
	if err != nil {
		return nil, err
	}
	return &tunnel{
		id:       t.ID,
		host:     host,
		origin:   u.Scheme + "://" + u.Host,
		provider: name,
		scopes:   scopes,
		allow:    allow,
	}, nil
}

// parseScopes checks --oauth-scope values: printable ASCII without spaces,
// quotes or backslashes (RFC 6749 scope-token).
func parseScopes(values []string) ([]string, error) {
	if len(values) > MaxScopes {
		return nil, sdk.UserErrorf("--%s can be given at most %d times (got %d)", FlagScope, MaxScopes, len(values))
	}
	var out []string
	for _, v := range values {
		if v == "" || len(v) > 256 || strings.IndexFunc(v, func(r rune) bool {
			return r <= ' ' || r > '~' || r == '"' || r == '\\'
		}) >= 0 {
			return nil, sdk.UserErrorf("--%s %q is not a valid scope (printable ASCII without spaces or quotes)", FlagScope, userText(v, 64))
		}
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out, nil
}

// CloseTunnel forgets a tunnel.
func (p *plugin) CloseTunnel(_ context.Context, id string) error {
	p.mu.Lock()
	delete(p.tunnels, id)
	p.mu.Unlock()
	return nil
}

// tunnelByHost returns the open tunnel with the given host, if any.
func (p *plugin) tunnelByHost(host string) *tunnel {
	p.mu.RLock()
	defer p.mu.RUnlock()
	for _, t := range p.tunnels {
		if t.host == host {
			return t
		}
	}
	return nil
}

// Check answers requests on the auth host (TunnelID "") and on protected
// tunnel hosts.
func (p *plugin) Check(ctx context.Context, req *sdk.Request) (sdk.Verdict, error) {
	s, err := p.settings()
	if err != nil {
		return sdk.Verdict{}, err
	}
	if req.TunnelID == "" {
		if req.Host != s.authHost {
			return page(http.StatusNotFound, notFoundPage()), nil
		}
		return p.checkAuthHost(ctx, s, req), nil
	}
	p.mu.RLock()
	t, ok := p.tunnels[req.TunnelID]
	p.mu.RUnlock()
	if !ok {
		return sdk.Verdict{}, fmt.Errorf("oauth: check: tunnel %q is not open", req.TunnelID)
	}
	return p.checkTunnel(s, t, req), nil
}

// isLocalhost reports whether host is localhost or a subdomain of it,
// where browsers accept Secure cookies over plain http.
func isLocalhost(host string) bool {
	return host == "localhost" || strings.HasSuffix(host, ".localhost")
}
