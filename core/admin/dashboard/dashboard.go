package dashboard

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// CookieName is the session cookie: __Host- so it is Secure, host-only
// and for path / (a tunnel under the base domain cannot set or shadow it).
const CookieName = "__Host-sshgress-dashboard"

// Defaults of Options.
const (
	DefaultSessionTTL  = 12 * time.Hour
	DefaultLinkTTL     = 5 * time.Minute
	DefaultMaxSessions = 10000
	// MaxBodyBytes bounds a POST body (a pasted or uploaded key, a form).
	MaxBodyBytes = 64 << 10
)

// LoginPath is where a one-time link points: LoginPath + secret.
const LoginPath = "/login/"

// SignInPath starts a sign-in through Options.SignIn.
const SignInPath = "/signin"

// Options configures a Server. Zero durations take the defaults above.
type Options struct {
	// Backend is the store seam shared with the management API.
	Backend Backend
	// BaseURL is the dashboard's public origin, e.g.
	// "https://dashboard.tunnel.example.com"; one-time links start with it.
	BaseURL string
	// SSHHost is how users reach the SSH port, as the edge's help shows it
	// ("tunnel.example.com" or "localhost -p 2222").
	SSHHost string
	// Operators are the account names that may see every account and
	// tunnel and create invites.
	Operators []string
	// Members maps a verified email address (lowercase) to the account it
	// signs in as through SignIn. An email not listed is refused.
	Members map[string]string
	// SignIn, when set, authenticates a request through the operator's
	// sign-in middleware (the OAuth plugin): it returns the visitor's
	// verified email, or writes the middleware's own response (a redirect
	// to the provider, a denial page) and returns ok false. Nil offers
	// one-time links only.
	SignIn func(w http.ResponseWriter, r *http.Request) (email string, ok bool)
	// SignInTitle names the SignIn method on the sign-in page, e.g.
	// "OAuth (corp)".
	SignInTitle string
	// SessionTTL is how long a session lasts. Default DefaultSessionTTL.
	SessionTTL time.Duration
	// LinkTTL is how long a one-time link is valid. Default DefaultLinkTTL.
	LinkTTL time.Duration
	// MaxSessions bounds the live sessions and, separately, the unused
	// links. Default DefaultMaxSessions.
	MaxSessions int
	// Logger receives operator logs; never a secret.
	Logger *slog.Logger
	// Now is the clock; time.Now when nil (tests move it).
	Now func() time.Time
}

// Server serves the dashboard's pages.
type Server struct {
	opts     Options
	sessions *sessions
	log      *slog.Logger
	mux      *http.ServeMux
}

var _ http.Handler = (*Server)(nil)

// New returns a dashboard server.
func New(opts Options) (*Server, error) {
	if opts.Backend == nil {
		return nil, errors.New("dashboard: no backend")
	}
	if !strings.HasPrefix(opts.BaseURL, "https://") {
		return nil, fmt.Errorf("dashboard: base URL %q is not https (the session cookie is Secure)", opts.BaseURL)
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = DefaultSessionTTL
	}
	if opts.LinkTTL <= 0 {
		opts.LinkTTL = DefaultLinkTTL
	}
	if opts.MaxSessions <= 0 {
		opts.MaxSessions = DefaultMaxSessions
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{opts: opts, log: opts.Logger, sessions: newSessions(opts.Now, opts.SessionTTL, opts.MaxSessions)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.home)
	mux.HandleFunc("GET "+LoginPath+"{token}", s.login)
	mux.HandleFunc("GET /style.css", serveStyle)
	mux.HandleFunc("POST /logout", s.signedIn(s.logout))
	mux.HandleFunc("POST /keys", s.signedIn(s.addKey))
	mux.HandleFunc("POST /keys/{id}/delete", s.signedIn(s.deleteKey))
	mux.HandleFunc("POST /tunnels/{id}/close", s.signedIn(s.closeTunnel))
	mux.HandleFunc("POST /invites", s.signedIn(s.createInvite))
	mux.HandleFunc("POST /tokens", s.signedIn(s.createToken))
	s.mux = mux
	return s, nil
}

// MintLoginLink returns a one-time sign-in link for account, valid for
// Options.LinkTTL and for one use (what `ssh … login` prints).
func (s *Server) MintLoginLink(account string) (string, error) {
	if _, err := s.opts.Backend.Account(account); err != nil {
		return "", fmt.Errorf("dashboard: login link for %q: %w", account, err)
	}
	tok, err := s.sessions.mintLink(account, s.opts.LinkTTL)
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(s.opts.BaseURL, "/") + LoginPath + tok, nil
}

// ServeHTTP sets the security headers every response carries, bounds the
// body, and routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("Strict-Transport-Security", "max-age=31536000")
	if r.TLS == nil {
		// The cookie is Secure: the dashboard is never served in clear.
		// A page asked for in clear is sent to its https address; a
		// sign-in link or a form post is refused (its secret already
		// crossed the network in clear).
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && !strings.HasPrefix(r.URL.Path, LoginPath) {
			http.Redirect(w, r, strings.TrimSuffix(s.opts.BaseURL, "/")+r.URL.Path, http.StatusPermanentRedirect)
			return
		}
		s.page(w, r, http.StatusForbidden, "The dashboard is served over HTTPS only", "Open it with https://.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	if _, pattern := s.mux.Handler(r); pattern == "" {
		// Not a dashboard page: before sign-in, the sign-in middleware
		// owns it (SignInPath, and the paths its flow comes back to, such
		// as the OAuth plugin's exchange).
		if _, ok := s.current(r); !ok && s.opts.SignIn != nil {
			s.signIn(w, r)
			return
		}
		s.page(w, r, http.StatusNotFound, "Page not found", "There is no such page on the dashboard.")
		return
	}
	s.mux.ServeHTTP(w, r)
}
