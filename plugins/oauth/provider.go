package oauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// kind is how a provider signs users in and what its claims mean.
type kind int

const (
	kindOIDC kind = iota // any OpenID Connect provider, found by discovery
	kindGoogle
	kindMicrosoft
	kindGitLab
	kindGitHub // OAuth 2.0 plus the REST API, not OIDC
)

// Well-known endpoints of the built-in providers.
const (
	googleIssuer   = "https://accounts.google.com"
	googleAuthURL  = "https://accounts.google.com/o/oauth2/v2/auth"
	googleTokenURL = "https://oauth2.googleapis.com/token"
	googleJWKSURL  = "https://www.googleapis.com/oauth2/v3/certs"
	googleUserinfo = "https://openidconnect.googleapis.com/v1/userinfo"

	gitlabIssuer   = "https://gitlab.com"
	gitlabAuthURL  = "https://gitlab.com/oauth/authorize"
	gitlabTokenURL = "https://gitlab.com/oauth/token"
	gitlabJWKSURL  = "https://gitlab.com/oauth/discovery/keys"
	gitlabUserinfo = "https://gitlab.com/oauth/userinfo"

	microsoftLogin     = "https://login.microsoftonline.com/"
	microsoftUserinfo  = "https://graph.microsoft.com/oidc/userinfo"
	microsoftConsumers = "9188040d-6c67-4c5b-b112-36a304b66dad" // tenant of personal Microsoft accounts

	githubAuthURL  = "https://github.com/login/oauth/authorize"
	githubTokenURL = "https://github.com/login/oauth/access_token"
	githubAPIURL   = "https://api.github.com"
)

const (
	// exchangeTimeout bounds redeeming a code and reading the identity.
	exchangeTimeout = 15 * time.Second
	// maxAPIBody bounds a GitHub API response.
	maxAPIBody = 1 << 20
)

// identity is who the provider says signed in.
type identity struct {
	Subject       string `json:"sub"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"ev"`
	Name          string `json:"name"`
}

// provider is one configured provider.
type provider struct {
	name   string
	kind   kind
	client *http.Client
	oauth  oauth2.Config // without RedirectURL
	issuer string        // OIDC issuer to discover or expect
	tenant string        // microsoft: tenant ID, common, organizations or consumers
	apiURL string        // github

	mu          sync.Mutex
	oidc        *oidc.Provider // set once discovered or built
	verifier    *oidc.IDTokenVerifier
	discovering chan struct{} // closed when a background discovery ends
}

// newProvider checks one provider's config.
func newProvider(c providerConfig) (*provider, error) {
	if c.clientID == "" {
		return nil, errors.New("client_id is required")
	}
	if c.clientSecret == "" {
		return nil, errors.New("client_secret is required")
	}
	p := &provider{
		name:   c.name,
		kind:   kindOIDC,
		client: newHTTPClient(),
		issuer: strings.TrimSuffix(c.issuer, "/"),
	}
	switch c.name {
	case "google":
		p.kind = kindGoogle
	case "microsoft":
		p.kind = kindMicrosoft
	case "gitlab":
		p.kind = kindGitLab
	case "github":
		p.kind = kindGitHub
	}
	if c.tenant != "" && p.kind != kindMicrosoft {
		return nil, errors.New("tenant applies to microsoft only")
	}
	if (c.authURL != "" || c.tokenURL != "" || c.apiURL != "") && p.kind != kindGitHub {
		return nil, errors.New("auth_url, token_url and api_url apply to github only (OIDC providers use their issuer's discovery document)")
	}
	defaultScopes := []string{oidc.ScopeOpenID, "email", "profile"}
	switch p.kind {
	case kindGitHub:
		if c.issuer != "" {
			return nil, errors.New("github is not an OIDC provider and takes no issuer; for GitHub Enterprise Server set auth_url, token_url and api_url")
		}
		defaultScopes = []string{"read:user", "user:email"}
		p.oauth.Endpoint = oauth2.Endpoint{AuthURL: githubAuthURL, TokenURL: githubTokenURL}
		p.apiURL = githubAPIURL
		for _, u := range []struct {
			what string
			val  string
			dst  *string
		}{{"auth_url", c.authURL, &p.oauth.Endpoint.AuthURL}, {"token_url", c.tokenURL, &p.oauth.Endpoint.TokenURL}, {"api_url", c.apiURL, &p.apiURL}} {
			if u.val == "" {
				continue
			}
			if err := checkEndpointURL(u.what, u.val); err != nil {
				return nil, err
			}
			*u.dst = strings.TrimSuffix(u.val, "/")
		}
		p.oauth.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	case kindMicrosoft:
		if c.issuer != "" {
			return nil, errors.New("microsoft takes a tenant, not an issuer")
		}
		p.tenant = strings.ToLower(c.tenant)
		if p.tenant == "" {
			p.tenant = "common"
		}
		if !msTenantRE.MatchString(p.tenant) {
			return nil, fmt.Errorf("tenant %q must be a directory (tenant) ID, common, organizations or consumers", c.tenant)
		}
	}
	if c.issuer != "" {
		if err := checkEndpointURL("issuer", c.issuer); err != nil {
			return nil, err
		}
	} else if p.kind == kindOIDC {
		return nil, fmt.Errorf("issuer is required for the provider %q (only google, github, microsoft and gitlab have built-in endpoints)", c.name)
	}
	p.oauth.ClientID = c.clientID
	p.oauth.ClientSecret = c.clientSecret
	p.oauth.Scopes = defaultScopes
	if len(c.scopes) > 0 {
		p.oauth.Scopes = c.scopes
		if p.kind != kindGitHub && !containsString(c.scopes, oidc.ScopeOpenID) {
			p.oauth.Scopes = append([]string{oidc.ScopeOpenID}, c.scopes...)
		}
	}
	p.buildFixed()
	return p, nil
}

func containsString(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// newHTTPClient returns the client for provider requests: bounded in time,
// no redirects to follow across hosts beyond the default ten.
func newHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.IdleConnTimeout = 30 * time.Second
	tr.MaxIdleConnsPerHost = 4
	return &http.Client{Timeout: exchangeTimeout, Transport: tr}
}

// buildFixed sets up the built-in OIDC providers that need no discovery.
func (p *provider) buildFixed() {
	if p.issuer != "" {
		return // discovered in prepare
	}
	var pc *oidc.ProviderConfig
	switch p.kind {
	case kindGoogle:
		pc = &oidc.ProviderConfig{IssuerURL: googleIssuer, AuthURL: googleAuthURL, TokenURL: googleTokenURL, JWKSURL: googleJWKSURL, UserInfoURL: googleUserinfo}
	case kindGitLab:
		pc = &oidc.ProviderConfig{IssuerURL: gitlabIssuer, AuthURL: gitlabAuthURL, TokenURL: gitlabTokenURL, JWKSURL: gitlabJWKSURL, UserInfoURL: gitlabUserinfo}
	case kindMicrosoft:
		base := microsoftLogin + p.tenant
		pc = &oidc.ProviderConfig{
			IssuerURL:   base + "/v2.0",
			AuthURL:     base + "/oauth2/v2.0/authorize",
			TokenURL:    base + "/oauth2/v2.0/token",
			JWKSURL:     base + "/discovery/v2.0/keys",
			UserInfoURL: microsoftUserinfo,
		}
	default:
		return
	}
	p.setOIDC(pc.NewProvider(p.clientContext(context.Background())))
}

func (p *provider) clientContext(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, p.client)
}

// setOIDC installs a discovered or built OIDC provider.
func (p *provider) setOIDC(op *oidc.Provider) {
	cfg := &oidc.Config{ClientID: p.oauth.ClientID}
	if p.kind == kindMicrosoft {
		// The issuer names the user's tenant; checked in identifyOIDC.
		cfg.SkipIssuerCheck = true
	}
	ep := op.Endpoint()
	// Send the client secret in the form unless the provider says it
	// takes only HTTP basic auth: one request, where auto-detection may
	// need two.
	ep.AuthStyle = oauth2.AuthStyleInParams
	var meta struct {
		Methods []string `json:"token_endpoint_auth_methods_supported"`
	}
	if op.Claims(&meta) == nil && len(meta.Methods) > 0 && !containsString(meta.Methods, "client_secret_post") {
		ep.AuthStyle = oauth2.AuthStyleInHeader
	}
	p.mu.Lock()
	p.oidc = op
	p.verifier = op.VerifierContext(p.clientContext(context.Background()), cfg)
	p.oauth.Endpoint = ep
	p.mu.Unlock()
}

// prepare discovers an OIDC provider's endpoints. A failure is logged, not
// fatal: the provider may be down now and up later, and discovery is
// retried when someone signs in.
func (p *provider) prepare(ctx context.Context, logger *slog.Logger) {
	if p.kind == kindGitHub || p.issuer == "" {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := p.discover(ctx); err != nil {
		logger.Warn("oauth: provider discovery failed; retrying at the next sign-in", "provider", p.name, "issuer", p.issuer, "error", err)
	}
}

// discover fetches the issuer's discovery document.
func (p *provider) discover(ctx context.Context) error {
	op, err := oidc.NewProvider(p.clientContext(ctx), p.issuer)
	if err != nil {
		return fmt.Errorf("oauth: discover %s: %w", p.issuer, err)
	}
	p.setOIDC(op)
	return nil
}

// ensureReady discovers the provider in the background if it is not ready
// yet and waits for that within ctx's deadline (see waitFor).
func (p *provider) ensureReady(ctx context.Context, logger *slog.Logger) bool {
	if p.ready() {
		return true
	}
	p.mu.Lock()
	if p.discovering == nil {
		ch := make(chan struct{})
		p.discovering = ch
		go func() {
			dctx, cancel := context.WithTimeout(context.Background(), exchangeTimeout)
			defer cancel()
			if err := p.discover(dctx); err != nil {
				logger.Warn("oauth: provider discovery failed", "provider", p.name, "issuer", p.issuer, "error", err)
			}
			p.mu.Lock()
			p.discovering = nil
			p.mu.Unlock()
			close(ch)
		}()
	}
	ch := p.discovering
	p.mu.Unlock()
	waitFor(ctx, ch)
	return p.ready()
}

// ready reports whether the provider's endpoints are known.
func (p *provider) ready() bool {
	if p.kind == kindGitHub {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.oidc != nil
}

// config returns the OAuth config for one sign-in.
func (p *provider) config(redirectURL string, extraScopes []string) *oauth2.Config {
	p.mu.Lock()
	c := p.oauth
	p.mu.Unlock()
	c.RedirectURL = redirectURL
	scopes := append([]string(nil), c.Scopes...)
	for _, s := range extraScopes {
		if !containsString(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	c.Scopes = scopes
	return &c
}
