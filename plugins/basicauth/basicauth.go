// Package basicauth is the bundled sshgress plugin behind --basic-auth: HTTP
// basic authentication (RFC 7617) in front of a tunnel.
//
//	ssh -R 443:localhost:3000 v2@edge http --basic-auth 'ann:correct-horse' --basic-auth 'bob:battery-staple'
//
// The flag is repeatable up to MaxUsers times; the first ":" splits user and
// password; the user is non-empty and the password 8 to 128 characters
// (ngrok's rules). Visitors without valid credentials get 401 with a Basic
// challenge; valid requests go upstream without their Authorization header.
//
// Credentials are kept only as SHA-256 digests and compared in constant time
// against every user of the tunnel. They are never logged, echoed in an
// error, or shown in the banner, which says only "basic auth (2 users)".
//
// The package imports sdk only, like every plugin: it is also an example to
// copy.
package basicauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/sshgress/sshgress/sdk"
)

const (
	// Name is the plugin's name in the edge's config.
	Name = "basicauth"
	// FlagName is the flag the plugin owns: --basic-auth USER:PASSWORD.
	FlagName = "basic-auth"
	// MaxUsers is how often --basic-auth may be given for one tunnel.
	MaxUsers = 10
	// MinPasswordLen and MaxPasswordLen bound a password, in characters.
	MinPasswordLen = 8
	// MaxPasswordLen is the longest password accepted, in characters.
	MaxPasswordLen = 128
	// MaxUserLen is the longest user name accepted, in characters.
	MaxUserLen = 128
	// Realm is the realm in the WWW-Authenticate challenge.
	Realm = "sshgress"
	// CacheTTL is how long the edge may reuse a verdict for the same
	// Authorization header (allow and deny alike).
	CacheTTL = 60 * time.Second
)

// version is the plugin's own version, reported in its manifest.
const version = "1.0.0"

// challenge is the WWW-Authenticate value of every 401.
var challenge = fmt.Sprintf(`Basic realm=%q, charset="UTF-8"`, Realm)

// unauthorizedBody is the small text body of every 401.
const unauthorizedBody = "401 Unauthorized\n\nThis tunnel is protected by HTTP basic authentication.\n"

// credential is one user's name and password as SHA-256 digests.
type credential struct {
	user, password [sha256.Size]byte
}

// plugin implements sdk.HTTPMiddleware.
type plugin struct {
	mu      sync.RWMutex
	tunnels map[string][]credential
	logger  *slog.Logger
}

var (
	_ sdk.HTTPMiddleware = (*plugin)(nil)
	_ sdk.TunnelHooks    = (*plugin)(nil)
)

// New returns the basic-auth plugin, ready for sdk.Serve(basicauth.New()).
func New() sdk.HTTPMiddleware {
	return &plugin{
		tunnels: make(map[string][]credential),
		logger:  slog.New(slog.DiscardHandler),
	}
}

// Manifest declares the --basic-auth flag for http tunnels.
func (p *plugin) Manifest() sdk.Manifest {
	return sdk.Manifest{
		Name:          Name,
		Authenticates: true,
		Version:       version,
		Flags: []sdk.FlagSpec{{
			Name:       FlagName,
			Type:       sdk.FlagString,
			Repeatable: true,
			Help:       fmt.Sprintf("Require HTTP basic auth; repeat for up to %d users (password %d-%d characters).", MaxUsers, MinPasswordLen, MaxPasswordLen),
			ValueName:  "USER:PASSWORD",
			Sensitive:  true,
			Commands:   []string{"http"},
		}},
	}
}

// Configure accepts an empty section only: the plugin has no settings.
func (p *plugin) Configure(_ context.Context, cfg sdk.Config) error {
	if err := cfg.NoSettings("basicauth"); err != nil {
		return err
	}
	if cfg.Logger != nil {
		p.mu.Lock()
		p.logger = cfg.Logger
		p.mu.Unlock()
	}
	return nil
}

// OpenTunnel validates the tunnel's --basic-auth values and keeps their
// digests. A bad value refuses the tunnel with a message naming the problem,
// never the password.
func (p *plugin) OpenTunnel(_ context.Context, t sdk.Tunnel) (sdk.OpenResult, error) {
	creds, err := parseCredentials(t.Values[FlagName])
	if err != nil {
		return sdk.OpenResult{}, err
	}
	p.mu.Lock()
	p.tunnels[t.ID] = creds
	logger := p.logger
	p.mu.Unlock()
	logger.Info("tunnel opened", "tunnel", t.ID, "users", len(creds))
	return sdk.OpenResult{Protection: protection(len(creds))}, nil
}

// CloseTunnel forgets the tunnel's credentials.
func (p *plugin) CloseTunnel(_ context.Context, tunnelID string) error {
	p.mu.Lock()
	delete(p.tunnels, tunnelID)
	p.mu.Unlock()
	return nil
}

// Check lets a request with valid credentials continue without its
// Authorization header and answers every other one with 401.
func (p *plugin) Check(_ context.Context, req *sdk.Request) (sdk.Verdict, error) {
	p.mu.RLock()
	creds, ok := p.tunnels[req.TunnelID]
	p.mu.RUnlock()
	if !ok {
		return sdk.Verdict{}, fmt.Errorf("basicauth: check: tunnel %q is not open", req.TunnelID)
	}
	hint := &sdk.CacheHint{DependsOn: []string{"Authorization"}, TTL: CacheTTL}
	values := req.Header.Values("Authorization")
	if len(values) != 1 {
		return deny(hint), nil
	}
	user, password, ok := ParseBasicAuth(values[0])
	if !ok || !match(creds, user, password) {
		return deny(hint), nil
	}
	return sdk.Verdict{
		Continue: &sdk.Continue{
			RemoveHeaders: []string{"Authorization"},
			Identity:      &sdk.Identity{ID: user, Name: user},
		},
		Cache: hint,
	}, nil
}

// match reports whether user and password belong to one of creds. It
// compares digests in constant time and always looks at every credential,
// so timing tells nothing about which part was wrong or which user exists.
func match(creds []credential, user, password string) bool {
	u := sha256.Sum256([]byte(user))
	pw := sha256.Sum256([]byte(password))
	found := 0
	for i := range creds {
		found |= subtle.ConstantTimeCompare(u[:], creds[i].user[:]) &
			subtle.ConstantTimeCompare(pw[:], creds[i].password[:])
	}
	return found == 1
}

func deny(hint *sdk.CacheHint) sdk.Verdict {
	return sdk.Verdict{
		Respond: &sdk.Response{
			Status: 401,
			Header: map[string][]string{
				"Www-Authenticate": {challenge},
				"Content-Type":     {"text/plain; charset=utf-8"},
				"Cache-Control":    {"no-store"},
			},
			Body: []byte(unauthorizedBody),
		},
		Cache: hint,
	}
}

func protection(users int) string {
	if users == 1 {
		return "basic auth (1 user)"
	}
	return fmt.Sprintf("basic auth (%d users)", users)
}

// parseCredentials checks the values of --basic-auth and returns their
// digests. Errors are sdk.UserErrors fit for the tunnel's owner; none
// contains a password.
func parseCredentials(values []string) ([]credential, error) {
	if len(values) == 0 {
		return nil, sdk.UserErrorf("--%s needs USER:PASSWORD", FlagName)
	}
	if len(values) > MaxUsers {
		return nil, sdk.UserErrorf("--%s can be given at most %d times (got %d)", FlagName, MaxUsers, len(values))
	}
	creds := make([]credential, 0, len(values))
	seen := make(map[string]bool, len(values))
	for _, v := range values {
		user, password, ok := strings.Cut(v, ":")
		switch {
		case !ok:
			return nil, sdk.UserErrorf("--%s needs USER:PASSWORD (got no \":\")", FlagName)
		case user == "":
			return nil, sdk.UserErrorf("--%s needs a user name before \":\"", FlagName)
		case !utf8.ValidString(user) || hasControl(user):
			return nil, sdk.UserErrorf("--%s user name %q must be UTF-8 text without control characters", FlagName, user)
		case utf8.RuneCountInString(user) > MaxUserLen:
			return nil, sdk.UserErrorf("--%s user name must be at most %d characters (got %d)", FlagName, MaxUserLen, utf8.RuneCountInString(user))
		case seen[user]:
			return nil, sdk.UserErrorf("--%s user %q is given twice", FlagName, user)
		}
		n := utf8.RuneCountInString(password)
		if n < MinPasswordLen || n > MaxPasswordLen {
			return nil, sdk.UserErrorf("--%s password for %q must be %d to %d characters (got %d)", FlagName, user, MinPasswordLen, MaxPasswordLen, n)
		}
		if !utf8.ValidString(password) || hasControl(password) {
			return nil, sdk.UserErrorf("--%s password for %q must be UTF-8 text without control characters", FlagName, user)
		}
		seen[user] = true
		creds = append(creds, credential{
			user:     sha256.Sum256([]byte(user)),
			password: sha256.Sum256([]byte(password)),
		})
	}
	return creds, nil
}

func hasControl(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}
