package oauth

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/sshgress/sshgress/sdk"
)

// startRequest is what a tunnel host hands the auth host, sealed, to begin
// a sign-in.
type startRequest struct {
	Host     string   `json:"h"`
	Origin   string   `json:"o"` // the tunnel's scheme://host[:port]
	Return   string   `json:"r"` // relative path to go back to
	Provider string   `json:"p"`
	Scopes   []string `json:"s,omitempty"`
	Bind     string   `json:"b"` // bindHash of the login cookie
	Switch   bool     `json:"sw,omitempty"`
	Expires  int64    `json:"e"` // unix seconds
}

// loginData is the state cookie's content on the auth host.
type loginData struct {
	startRequest
	State    string `json:"st"`
	Verifier string `json:"v"`
	Nonce    string `json:"n"`
}

// ticketData is a ticket's content: who signed in, for which host.
type ticketData struct {
	ID       string `json:"id"`
	Host     string `json:"h"`
	Provider string `json:"p"`
	Return   string `json:"r"`
	Bind     string `json:"b"`
	Expires  int64  `json:"e"`
	identity
}

// sessionData is the session cookie's content.
type sessionData struct {
	Host     string `json:"h"`
	Provider string `json:"p"`
	Issued   int64  `json:"iat"`
	Seen     int64  `json:"seen"` // last refresh, for the idle timeout
	identity
}

// authOrigin is the auth host's origin for a tunnel origin: same scheme and
// port, the auth host's name.
func authOrigin(tunnelOrigin, authHost string) string {
	u, err := url.Parse(tunnelOrigin)
	if err != nil {
		return "https://" + authHost
	}
	origin := u.Scheme + "://" + authHost
	if port := u.Port(); port != "" {
		origin += ":" + port
	}
	return origin
}

// isBrowser reports whether a request accepts HTML, as page loads do.
func isBrowser(req *sdk.Request) bool {
	for _, v := range req.Header.Values("Accept") {
		if strings.Contains(strings.ToLower(v), "text/html") {
			return true
		}
	}
	return false
}

// --- tunnel hosts ---

func (p *plugin) checkTunnel(s *settings, t *tunnel, req *sdk.Request) sdk.Verdict {
	q, _ := url.ParseQuery(req.RawQuery)
	switch req.Path {
	case PathExchange:
		return p.exchange(s, t, req, q)
	case PathLogout:
		return p.logout(s, t, q)
	case PathLogin:
		return p.startLogin(s, t, req, SafeReturnPath(q.Get("rd")), q.Get("switch") == "1")
	}
	now := p.now()
	sess, ok := p.readSession(s, t, req, now)
	if !ok {
		if !isBrowser(req) {
			return unauthorized(t.provider)
		}
		return p.startLogin(s, t, req, requestTarget(req.Path, req.RawQuery), false)
	}
	if !t.allow.admits(sess.Email, sess.EmailVerified) {
		return deniedPage(sess.identity, t.allow, t.origin, requestTarget(req.Path, req.RawQuery), providerTitle(t.provider))
	}
	if (req.Method == http.MethodGet || req.Method == http.MethodHead) && isBrowser(req) &&
		now.Sub(time.Unix(sess.Seen, 0)) > s.idleTimeout/4 {
		// Slide the idle timeout: reissue the cookie on a page load.
		sess.Seen = now.Unix()
		cookie, err := p.sessionCookie(s, sess, now)
		if err == nil {
			return redirect(requestTarget(req.Path, req.RawQuery), cookie)
		}
		p.log().Error("oauth: reissue session", "error", err)
	}
	return allow(req, sess.identity)
}

// readSession returns the first valid session cookie for this tunnel.
func (p *plugin) readSession(s *settings, t *tunnel, req *sdk.Request, now time.Time) (sessionData, bool) {
	for _, v := range cookieValues(req.Header, SessionCookie) {
		var sess sessionData
		if s.seal.unseal(purposeSession, req.Host, v, &sess) != nil {
			continue
		}
		switch {
		case sess.Host != req.Host || sess.Host != t.host,
			sess.Provider != t.provider,
			!now.Before(time.Unix(sess.Issued, 0).Add(s.maxAge)),
			!now.Before(time.Unix(sess.Seen, 0).Add(s.idleTimeout)):
			continue
		}
		return sess, true
	}
	return sessionData{}, false
}

func (p *plugin) sessionCookie(s *settings, sess sessionData, now time.Time) (string, error) {
	v, err := s.seal.seal(purposeSession, sess.Host, sess)
	if err != nil {
		return "", err
	}
	return setCookie(SessionCookie, v, time.Unix(sess.Issued, 0).Add(s.maxAge).Sub(now)), nil
}

// allow lets the request go upstream with the identity headers set by the
// plugin, visitor-sent X-Sshgress-* headers removed and the plugin's
// cookies cut from Cookie.
func allow(req *sdk.Request, id identity) sdk.Verdict {
	set := http.Header{}
	var remove []string
	for name := range req.Header {
		if isIdentityHeader(name) && len(remove) < 32 {
			remove = append(remove, name)
		}
	}
	for _, h := range []struct{ name, value string }{
		{HeaderEmail, id.Email}, {HeaderName, id.Name}, {HeaderID, id.Subject},
	} {
		if v := headerValue(h.value); v != "" {
			set[h.name] = []string{v}
		} else {
			remove = append(remove, h.name)
		}
	}
	if len(req.Header.Values("Cookie")) > 0 {
		if v, keep := upstreamCookie(req.Header); keep {
			set["Cookie"] = []string{v}
		} else {
			remove = append(remove, "Cookie")
		}
	}
	return sdk.Verdict{Continue: &sdk.Continue{
		SetHeaders:    set,
		RemoveHeaders: remove,
		Identity:      &sdk.Identity{ID: id.Subject, Name: id.Name, Email: id.Email},
	}}
}

// isIdentityHeader reports whether a header name is X-Sshgress-… in any
// case, with '_' for '-'.
func isIdentityHeader(name string) bool {
	const prefix = "x-sshgress-"
	if len(name) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := name[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c == '_' {
			c = '-'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}

// headerValue makes s safe as a header value: no control characters, at
// most 512 bytes of whole runes.
func headerValue(s string) string {
	s = strings.TrimSpace(userText(s, 256))
	for len(s) > 512 {
		r := []rune(s)
		s = string(r[:len(r)-1])
	}
	return s
}

// startLogin sends the browser to the auth host to sign in, binding the
// sign-in to a login cookie on this host.
func (p *plugin) startLogin(s *settings, t *tunnel, req *sdk.Request, ret string, switchAccount bool) sdk.Verdict {
	login := ""
	for _, v := range cookieValues(req.Header, LoginCookie) {
		if isToken(v) {
			login = v // keep it, so parallel sign-ins in several tabs agree
			break
		}
	}
	if login == "" {
		login = randToken(16)
	}
	sr := startRequest{
		Host:     t.host,
		Origin:   t.origin,
		Return:   ret,
		Provider: t.provider,
		Scopes:   t.scopes,
		Bind:     bindHash(login),
		Switch:   switchAccount,
		Expires:  p.now().Add(LoginTTL).Unix(),
	}
	sealed, err := s.seal.seal(purposeStart, "", sr)
	if err != nil {
		p.log().Error("oauth: seal start request", "error", err)
		return page(http.StatusInternalServerError, errorPage("Sign-in failed", "The sign-in could not be started. Try again.", t.origin+ret))
	}
	return redirect(authOrigin(t.origin, s.authHost)+PathStart+"?req="+sealed, setCookie(LoginCookie, login, LoginTTL))
}

// exchange turns a ticket from the auth host into a session cookie.
func (p *plugin) exchange(s *settings, t *tunnel, req *sdk.Request, q url.Values) sdk.Verdict {
	now := p.now()
	var tk ticketData
	retry := t.origin + PathLogin + "?rd=" + url.QueryEscape(SafeReturnPath(q.Get("rd")))
	invalid := page(http.StatusBadRequest, errorPage("Sign-in link not valid",
		"This sign-in link has expired, was used already, or was opened in another browser.", retry))
	if s.seal.unseal(purposeTicket, req.Host, q.Get("ticket"), &tk) != nil ||
		tk.Host != req.Host || tk.Host != t.host || tk.Provider != t.provider ||
		!now.Before(time.Unix(tk.Expires, 0)) {
		return invalid
	}
	retry = t.origin + PathLogin + "?rd=" + url.QueryEscape(SafeReturnPath(tk.Return))
	invalid.Respond.Body = errorPage("Sign-in link not valid",
		"This sign-in link has expired, was used already, or was opened in another browser.", retry)
	bound := false
	for _, v := range cookieValues(req.Header, LoginCookie) {
		if subtle.ConstantTimeCompare([]byte(bindHash(v)), []byte(tk.Bind)) == 1 {
			bound = true
		}
	}
	if !bound {
		return invalid
	}
	fresh, err := p.logins.useTicket(tk.ID, time.Unix(tk.Expires, 0), now)
	if err != nil {
		return busy(retry)
	}
	if !fresh {
		return invalid
	}
	if !t.allow.admits(tk.Email, tk.EmailVerified) {
		return deniedPage(tk.identity, t.allow, t.origin, tk.Return, providerTitle(t.provider))
	}
	sess := sessionData{Host: t.host, Provider: t.provider, Issued: now.Unix(), Seen: now.Unix(), identity: tk.identity}
	cookie, err := p.sessionCookie(s, sess, now)
	if err != nil {
		p.log().Error("oauth: seal session", "error", err)
		return page(http.StatusInternalServerError, errorPage("Sign-in failed", "The session could not be created. Try again.", retry))
	}
	p.log().Info("oauth: signed in", "host", t.host, "provider", t.provider, "email", tk.Email)
	return redirect(SafeReturnPath(tk.Return), cookie, setCookie(LoginCookie, "", 0))
}

// logout ends the session on this host.
func (p *plugin) logout(s *settings, t *tunnel, q url.Values) sdk.Verdict {
	clear := setCookie(SessionCookie, "", 0)
	if rd := q.Get("rd"); rd != "" {
		return redirect(SafeReturnPath(rd), clear)
	}
	v := page(http.StatusOK, logoutPage(t.host, providerTitle(t.provider)))
	v.Respond.Header["Set-Cookie"] = []string{clear}
	return v
}

// --- the auth host ---

func (p *plugin) checkAuthHost(ctx context.Context, s *settings, req *sdk.Request) sdk.Verdict {
	q, _ := url.ParseQuery(req.RawQuery)
	switch req.Path {
	case PathStart:
		return p.authStart(ctx, s, q)
	case PathCallback:
		return p.callback(ctx, s, req, q)
	}
	return page(http.StatusNotFound, notFoundPage())
}

// authStart sets the state cookie and sends the browser to the provider.
func (p *plugin) authStart(ctx context.Context, s *settings, q url.Values) sdk.Verdict {
	now := p.now()
	var sr startRequest
	if s.seal.unseal(purposeStart, "", q.Get("req"), &sr) != nil {
		return page(http.StatusBadRequest, errorPage("Sign-in link not valid", "This sign-in link is not valid. Go back to the site and reload the page.", ""))
	}
	back := sr.Origin + SafeReturnPath(sr.Return)
	if !now.Before(time.Unix(sr.Expires, 0)) {
		return page(http.StatusBadRequest, errorPage("Sign-in link expired", "This sign-in link has expired.", back))
	}
	prov, ok := s.providers[sr.Provider]
	if !ok {
		return page(http.StatusBadRequest, errorPage("Sign-in not available", "The sign-in provider of this site is no longer configured on this server.", back))
	}
	if !prov.ensureReady(ctx, p.log()) {
		v := page(http.StatusServiceUnavailable, errorPage("Sign-in provider unreachable", "The sign-in provider could not be reached. Try again in a moment.", back))
		v.Respond.Header.Set("Retry-After", "5")
		return v
	}
	ld := loginData{startRequest: sr, State: randToken(16), Verifier: oauth2.GenerateVerifier(), Nonce: randToken(16)}
	ld.Expires = now.Add(LoginTTL).Unix()
	sealed, err := s.seal.seal(purposeState, ld.State, ld)
	if err != nil {
		p.log().Error("oauth: seal state", "error", err)
		return page(http.StatusInternalServerError, errorPage("Sign-in failed", "The sign-in could not be started.", back))
	}
	cfg := prov.config(authOrigin(sr.Origin, s.authHost)+PathCallback, sr.Scopes)
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(ld.Verifier)}
	if prov.kind != kindGitHub {
		opts = append(opts, oidc.Nonce(ld.Nonce))
	}
	if sr.Switch {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", "select_account"))
	}
	return redirect(cfg.AuthCodeURL(ld.State, opts...), setCookie(stateCookiePrefix+ld.State, sealed, LoginTTL))
}

// callback checks the state, redeems the code, applies the allow rules the
// auth host knows and sends the browser to the tunnel host with a ticket.
func (p *plugin) callback(ctx context.Context, s *settings, req *sdk.Request, q url.Values) sdk.Verdict {
	now := p.now()
	state := q.Get("state")
	expired := page(http.StatusBadRequest, errorPage("Sign-in expired",
		"This sign-in has expired or was started in another browser. Go back to the site and reload the page.", ""))
	if !isToken(state) {
		return expired
	}
	var ld loginData
	found := false
	for _, v := range cookieValues(req.Header, stateCookiePrefix+state) {
		if s.seal.unseal(purposeState, state, v, &ld) == nil && ld.State == state {
			found = true
			break
		}
	}
	if !found {
		return expired
	}
	clear := setCookie(stateCookiePrefix+state, "", 0)
	back := ld.Origin + SafeReturnPath(ld.Return)
	retry := ld.Origin + PathLogin + "?rd=" + url.QueryEscape(SafeReturnPath(ld.Return))
	fail := func(status int, body []byte) sdk.Verdict {
		p.logins.forget(state)
		v := page(status, body)
		v.Respond.Header["Set-Cookie"] = []string{clear}
		return v
	}
	if !now.Before(time.Unix(ld.Expires, 0)) {
		return fail(http.StatusBadRequest, errorPage("Sign-in expired", "This sign-in took too long.", back))
	}
	if e := q.Get("error"); e != "" {
		return fail(http.StatusForbidden, errorPage("Sign-in refused",
			"The sign-in provider did not sign you in ("+userText(e, 64)+").", retry))
	}
	code := q.Get("code")
	prov, ok := s.providers[ld.Provider]
	if code == "" || !ok {
		return fail(http.StatusBadRequest, errorPage("Sign-in failed", "The sign-in provider sent no code.", retry))
	}
	cfg := prov.config(authOrigin(ld.Origin, s.authHost)+PathCallback, ld.Scopes)
	r, err := p.logins.redeem(state, code, now, func(ctx context.Context) (identity, error) {
		return prov.identify(ctx, cfg, code, ld.Verifier, ld.Nonce)
	})
	switch {
	case errors.Is(err, errBusy):
		return busy(retry)
	case err != nil:
		return fail(http.StatusBadRequest, errorPage("Sign-in failed", "This sign-in link is not valid.", retry))
	}
	if !waitFor(ctx, r.done) {
		return page(http.StatusOK, waitPage())
	}
	p.logins.forget(state)
	if r.err != nil {
		p.log().Warn("oauth: sign-in failed at the provider", "provider", ld.Provider, "host", ld.Host, "error", r.err)
		return fail(http.StatusBadGateway, errorPage("Sign-in failed",
			"Your sign-in could not be confirmed with "+providerTitle(ld.Provider)+".", retry))
	}
	id := r.id
	if t := p.tunnelByHost(ld.Host); (t != nil && !t.allow.admits(id.Email, id.EmailVerified)) || !id.EmailVerified {
		rules := allowRules{}
		if t != nil {
			rules = t.allow
		}
		v := deniedPage(id, rules, ld.Origin, ld.Return, providerTitle(ld.Provider))
		v.Respond.Header["Set-Cookie"] = []string{clear}
		return v
	}
	tk := ticketData{
		ID:       randToken(16),
		Host:     ld.Host,
		Provider: ld.Provider,
		Return:   SafeReturnPath(ld.Return),
		Bind:     ld.Bind,
		Expires:  now.Add(TicketTTL).Unix(),
		identity: id,
	}
	sealed, err := s.seal.seal(purposeTicket, ld.Host, tk)
	if err != nil {
		p.log().Error("oauth: seal ticket", "error", err)
		return fail(http.StatusInternalServerError, errorPage("Sign-in failed", "The sign-in could not be completed.", retry))
	}
	return redirect(ld.Origin+PathExchange+"?ticket="+sealed, clear)
}
