package admin

import (
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/sshgress/sshgress/core/route/dnsname"
	"github.com/sshgress/sshgress/core/sshkey"
	"github.com/sshgress/sshgress/core/usererr"
	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"
)

// MaxBodyBytes bounds a request body; larger bodies get 413.
const MaxBodyBytes = 64 << 10

// MaxInviteTTL is the longest invite lifetime accepted.
const MaxInviteTTL = 30 * 24 * time.Hour

// accountNameRE is the account name rule of core/config.
var accountNameRE = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)

//go:embed openapi.json
var openAPI []byte

// Config configures the API handler.
type Config struct {
	Store   Store
	Tunnels Tunnels
	// OperatorToken is the content of admin.token_file; compared in
	// constant time. Must not be empty.
	OperatorToken string
	// BaseDomain is the normalised base domain; a bare label reserved
	// means "<label>.<BaseDomain>".
	BaseDomain string
	// SystemHosts are names the edge serves itself; never reservable.
	SystemHosts []string
	Logger      *slog.Logger
}

// API serves the management API.
type API struct {
	cfg Config
	mux *http.ServeMux
}

// route is one operation: pattern, whether an account token may call it
// (only for its own {name}), and its handler.
type route struct {
	pattern string
	user    bool
	h       func(*API, http.ResponseWriter, *http.Request, Scope) error
}

// routes is the API's one list of operations; the OpenAPI test holds
// openapi.json to it.
var routes = []route{
	{"GET /api/v1/accounts", false, (*API).listAccounts},
	{"POST /api/v1/accounts", false, (*API).createAccount},
	{"GET /api/v1/accounts/{name}", true, (*API).getAccount},
	{"DELETE /api/v1/accounts/{name}", false, (*API).deleteAccount},
	{"GET /api/v1/accounts/{name}/keys", true, (*API).listKeys},
	{"POST /api/v1/accounts/{name}/keys", true, (*API).addKey},
	{"DELETE /api/v1/accounts/{name}/keys/{id}", true, (*API).deleteKey},
	{"POST /api/v1/accounts/{name}/domains", true, reserve(KindDomain)},
	{"DELETE /api/v1/accounts/{name}/domains", true, unreserve(KindDomain)},
	{"POST /api/v1/accounts/{name}/tcp-addresses", false, reserve(KindTCP)},
	{"DELETE /api/v1/accounts/{name}/tcp-addresses", false, unreserve(KindTCP)},
	{"POST /api/v1/accounts/{name}/tokens", false, (*API).createToken},
	{"GET /api/v1/tunnels", true, (*API).listTunnels},
	{"DELETE /api/v1/tunnels/{id}", true, (*API).endTunnel},
	{"POST /api/v1/invites", false, (*API).createInvite},
}

// New returns the API handler.
func New(cfg Config) (*API, error) {
	if cfg.Store == nil || cfg.Tunnels == nil {
		return nil, errors.New("admin: a store and a tunnel table are required")
	}
	if len(cfg.OperatorToken) < 16 {
		return nil, errors.New("admin: the operator token is shorter than 16 characters")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	a := &API{cfg: cfg, mux: http.NewServeMux()}
	for _, rt := range routes {
		a.mux.Handle(rt.pattern, a.wrap(rt))
	}
	a.mux.HandleFunc("GET /api/v1/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openAPI)
	})
	a.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "there is no such API endpoint: see /api/v1/openapi.json")
	})
	return a, nil
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	a.mux.ServeHTTP(w, r)
}

// wrap authenticates, checks the scope and maps errors to statuses.
func (a *API) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scope, ok := a.authenticate(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sshgress"`)
			writeError(w, http.StatusUnauthorized, "the request needs a valid token: send Authorization: Bearer <token> (the operator's is in admin.token_file)")
			return
		}
		if !scope.Operator {
			if !rt.user {
				writeError(w, http.StatusForbidden, "this endpoint is for the operator: an account token cannot use it")
				return
			}
			if name := r.PathValue("name"); name != "" && name != scope.Account {
				writeError(w, http.StatusForbidden, fmt.Sprintf("this token belongs to account %q and reaches only that account", scope.Account))
				return
			}
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		if err := rt.h(a, w, r, scope); err != nil {
			a.fail(w, r, err)
		}
	})
}

// authenticate checks the bearer token: the operator token in constant
// time, else a per-account token by its digest.
func (a *API) authenticate(r *http.Request) (Scope, bool) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	tok = strings.TrimSpace(tok)
	if !ok || tok == "" || len(tok) > 512 {
		return Scope{}, false
	}
	if subtle.ConstantTimeCompare([]byte(tok), []byte(a.cfg.OperatorToken)) == 1 {
		return Scope{Operator: true}, true
	}
	s, err := a.cfg.Store.TokenScope(r.Context(), Digest(tok))
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			a.cfg.Logger.Warn("admin: token lookup failed", "err", err)
		}
		return Scope{}, false
	}
	return s, s.Operator || s.Account != ""
}

// fail writes err as {"error": sentence} with the status its kind picks.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var mbe *http.MaxBytesError
	status := http.StatusInternalServerError
	switch {
	case errors.As(err, &mbe):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the request body is larger than %d bytes", MaxBodyBytes))
		return
	case errors.Is(err, ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, ErrConflict), errors.Is(err, ErrReadOnly):
		status = http.StatusConflict
	case errors.Is(err, ErrInvalid):
		status = http.StatusBadRequest
	case errors.Is(err, errForbidden):
		status = http.StatusForbidden
	case errors.Is(err, errBadRequest):
		status = http.StatusBadRequest
	}
	msg := usererr.Message(err, "the edge could not do that: an internal error, logged for the operator")
	if status == http.StatusInternalServerError {
		a.cfg.Logger.Error("admin: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "the edge could not do that: an internal error, logged for the operator"
	}
	writeError(w, status, msg)
}

var (
	errBadRequest = errors.New("admin: bad request")
	errForbidden  = errors.New("admin: forbidden")
)

// bad returns a 400 error with a user sentence.
func bad(format string, args ...any) error {
	return usererr.Wrap(errBadRequest, fmt.Sprintf(format, args...))
}

func forbidden(msg string) error { return usererr.Wrap(errForbidden, msg) }

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// decode reads one JSON object into v, refusing unknown fields, trailing
// data and bodies over MaxBodyBytes.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return bad("the request has an unknown field %s", f)
		}
		if errors.Is(err, io.EOF) {
			return bad("the request needs a JSON body")
		}
		return bad("the request body is not the JSON object this endpoint takes: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return bad("the request body holds more than one JSON value")
	}
	return nil
}

func (a *API) listAccounts(w http.ResponseWriter, r *http.Request, _ Scope) error {
	accts, err := a.cfg.Store.Accounts(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nonNil(accts))
	return nil
}

func (a *API) createAccount(w http.ResponseWriter, r *http.Request, _ Scope) error {
	var req struct {
		Name string `json:"name"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if !accountNameRE.MatchString(req.Name) {
		return bad("account name %q is not allowed: use 1 to 64 letters, digits or . _ @ -", req.Name)
	}
	acct, err := a.cfg.Store.CreateAccount(r.Context(), req.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, acct)
	return nil
}

func (a *API) getAccount(w http.ResponseWriter, r *http.Request, _ Scope) error {
	acct, err := a.cfg.Store.Account(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, acct)
	return nil
}

func (a *API) deleteAccount(w http.ResponseWriter, r *http.Request, _ Scope) error {
	if err := a.cfg.Store.DeleteAccount(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) listKeys(w http.ResponseWriter, r *http.Request, _ Scope) error {
	keys, err := a.cfg.Store.Keys(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nonNil(keys))
	return nil
}

func (a *API) addKey(w http.ResponseWriter, r *http.Request, _ Scope) error {
	var req struct {
		PublicKey string `json:"public_key"`
		Label     string `json:"label"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	key, comment, err := sshkey.ParseLine(strings.TrimSpace(req.PublicKey))
	if err != nil {
		return bad("%s", err.Error())
	}
	label := req.Label
	if label == "" {
		label = comment
	}
	if len(label) > 200 || strings.ContainsFunc(label, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return bad("the label must be at most 200 characters with no control characters")
	}
	k, err := a.cfg.Store.AddKey(r.Context(), r.PathValue("name"), Key{
		Fingerprint: ssh.FingerprintSHA256(key),
		Type:        key.Type(),
		PublicKey:   strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key))),
		Label:       label,
		Added:       time.Now().UTC(),
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, k)
	return nil
}

func (a *API) deleteKey(w http.ResponseWriter, r *http.Request, _ Scope) error {
	if err := a.cfg.Store.DeleteKey(r.Context(), r.PathValue("name"), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// reservationRequest is the body of the domains and tcp-addresses calls.
type reservationRequest struct {
	Domain     string `json:"domain,omitempty"`
	TCPAddress string `json:"tcp_address,omitempty"`
}

// reservation validates the body for kind and normalises its value.
func (a *API) reservation(r *http.Request, kind string, scope Scope) (Reservation, error) {
	var req reservationRequest
	if err := decode(r, &req); err != nil {
		return Reservation{}, err
	}
	if kind == KindTCP {
		if req.Domain != "" || req.TCPAddress == "" {
			return Reservation{}, bad(`this endpoint takes {"tcp_address": "host:port"}`)
		}
		n, err := dnsname.NormalizeHostPort(req.TCPAddress)
		if err != nil {
			return Reservation{}, bad("%s", usererr.Message(err, "the TCP address is not host:port"))
		}
		return Reservation{Kind: KindTCP, Value: n}, nil
	}
	if req.TCPAddress != "" || req.Domain == "" {
		return Reservation{}, bad(`this endpoint takes {"domain": "app.example.org"}`)
	}
	name := req.Domain
	if !strings.Contains(name, ".") {
		name += "." + a.cfg.BaseDomain
	}
	n, err := dnsname.Normalize(name)
	if err != nil {
		return Reservation{}, bad("%s", usererr.Message(err, "the domain is not a valid name"))
	}
	if n == a.cfg.BaseDomain {
		return Reservation{}, bad("the base domain %s itself cannot be reserved", n)
	}
	for _, h := range a.cfg.SystemHosts {
		if n == h {
			return Reservation{}, forbidden(fmt.Sprintf("%s is served by the edge itself and cannot be reserved", n))
		}
	}
	if !scope.Operator && !strings.HasSuffix(n, "."+a.cfg.BaseDomain) {
		return Reservation{}, forbidden(fmt.Sprintf("an account token may reserve names under %s only: ask the operator for %s", a.cfg.BaseDomain, n))
	}
	return Reservation{Kind: KindDomain, Value: n}, nil
}

func reserve(kind string) func(*API, http.ResponseWriter, *http.Request, Scope) error {
	return func(a *API, w http.ResponseWriter, r *http.Request, s Scope) error {
		res, err := a.reservation(r, kind, s)
		if err != nil {
			return err
		}
		if err := a.cfg.Store.Reserve(r.Context(), r.PathValue("name"), res); err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, reservationJSON(res))
		return nil
	}
}

func unreserve(kind string) func(*API, http.ResponseWriter, *http.Request, Scope) error {
	return func(a *API, w http.ResponseWriter, r *http.Request, s Scope) error {
		res, err := a.reservation(r, kind, s)
		if err != nil {
			return err
		}
		if err := a.cfg.Store.Unreserve(r.Context(), r.PathValue("name"), res); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

func reservationJSON(r Reservation) reservationRequest {
	if r.Kind == KindTCP {
		return reservationRequest{TCPAddress: r.Value}
	}
	return reservationRequest{Domain: r.Value}
}

func (a *API) createToken(w http.ResponseWriter, r *http.Request, _ Scope) error {
	name := r.PathValue("name")
	if _, err := a.cfg.Store.Account(r.Context(), name); err != nil {
		return err
	}
	tok, err := NewToken(r.Context(), a.cfg.Store, name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]string{"account": name, "token": tok})
	return nil
}

func (a *API) listTunnels(w http.ResponseWriter, r *http.Request, s Scope) error {
	all := a.cfg.Tunnels.Tunnels(r.Context())
	out := make([]Tunnel, 0, len(all))
	for _, t := range all {
		if s.Operator || t.Account == s.Account {
			out = append(out, t)
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) endTunnel(w http.ResponseWriter, r *http.Request, s Scope) error {
	id := r.PathValue("id")
	if !s.Operator {
		owned := false
		for _, t := range a.cfg.Tunnels.Tunnels(r.Context()) {
			owned = owned || (t.ID == id && t.Account == s.Account)
		}
		if !owned {
			return usererr.Wrap(ErrNotFound, fmt.Sprintf("account %q has no tunnel %q", s.Account, id))
		}
	}
	reason := "the operator ended this tunnel"
	if !s.Operator {
		reason = "you ended this tunnel through the management API"
	}
	if err := a.cfg.Tunnels.EndTunnel(r.Context(), id, reason); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) createInvite(w http.ResponseWriter, r *http.Request, _ Scope) error {
	var req struct {
		Account string `json:"account"`
		TTL     string `json:"ttl"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	ttl := 24 * time.Hour
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d <= 0 || d > MaxInviteTTL {
			return bad("ttl %q is not a duration from 1s to %s (e.g. \"24h\")", req.TTL, MaxInviteTTL)
		}
		ttl = d
	}
	if _, err := a.cfg.Store.Account(r.Context(), req.Account); err != nil {
		return err
	}
	code, exp, err := NewInvite(r.Context(), a.cfg.Store, req.Account, ttl)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"code": code, "account": req.Account, "expires": exp})
	return nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
