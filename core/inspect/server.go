package inspect

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/sshgress/sshgress/core/usererr"
)

const (
	// tokenPath is where a tunnel's private link points: tokenPath+TOKEN.
	tokenPath = "/t/"
	// pagesPath prefixes a tunnel's pages: pagesPath+ID+"/".
	pagesPath = "/i/"
	// cookiePrefix names a tunnel's cookie: cookiePrefix+ID.
	cookiePrefix = "__Host-sshgress-inspect-"
	// maxFormBytes bounds a replay form (an edited body is at most
	// MaxBodyBytes, plus headers and fields).
	maxFormBytes = 2*MaxBodyBytes + 64<<10
	// replayTimeout bounds one replay.
	replayTimeout = 30 * time.Second
	// refreshSeconds is how often the list reloads itself.
	refreshSeconds = 3
)

// ServeHTTP serves the inspector host: the private links, each tunnel's
// pages and the replays. Every response carries strict security headers;
// nothing is served in clear.
func (s *Store) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	if r.TLS == nil {
		// The cookie is Secure and the link a secret: in clear, nothing
		// is served, not even a redirect (the link already crossed the
		// network in clear if it was sent).
		s.fail(w, http.StatusForbidden, "The inspector is served over HTTPS only", "Open the link from your banner as printed, with https://.")
		return
	}
	h.Set("Strict-Transport-Security", "max-age=31536000")
	path := r.URL.Path
	switch {
	case path == "/style.css" && r.Method == http.MethodGet:
		h.Set("Content-Type", "text/css; charset=utf-8")
		h.Set("Cache-Control", "max-age=3600")
		w.Write([]byte(styleCSS))
	case strings.HasPrefix(path, tokenPath) && r.Method == http.MethodGet:
		s.link(w, r, strings.TrimPrefix(path, tokenPath))
	case strings.HasPrefix(path, pagesPath):
		s.tunnelPage(w, r, strings.TrimPrefix(path, pagesPath))
	default:
		s.notFound(w)
	}
}

// link exchanges a tunnel's token for its cookie and redirects to its
// pages, so the token leaves the address bar.
func (s *Store) link(w http.ResponseWriter, r *http.Request, token string) {
	t, ok := s.lookupToken(token)
	if !ok {
		s.notFound(w)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: cookiePrefix + t.id, Value: t.token, Path: "/",
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
	http.Redirect(w, r, pagesPath+t.id+"/", http.StatusSeeOther)
}

// tunnelPage serves rest ("ID/", "ID/x/N", "ID/x/N/replay") of a tunnel
// whose cookie the browser holds.
func (s *Store) tunnelPage(w http.ResponseWriter, r *http.Request, rest string) {
	id, sub, _ := strings.Cut(rest, "/")
	t, ok := s.lookupID(id)
	if !ok || !t.allowed(r) {
		s.notFound(w)
		return
	}
	switch {
	case sub == "" && r.Method == http.MethodGet:
		s.render(w, http.StatusOK, "list", listPage{Tunnel: t.url, Refresh: refreshSeconds, Exchanges: t.Exchanges(), Base: pagesPath + t.id})
		return
	case strings.HasPrefix(sub, "x/"):
		num, action, _ := strings.Cut(strings.TrimPrefix(sub, "x/"), "/")
		n, err := strconv.Atoi(num)
		if err != nil {
			break
		}
		ex, ok := t.Exchange(n)
		if !ok {
			s.fail(w, http.StatusNotFound, "This exchange is gone", "The inspector keeps the last "+strconv.Itoa(MaxExchanges)+" exchanges within its memory caps; older ones are dropped.")
			return
		}
		switch {
		case action == "" && r.Method == http.MethodGet:
			s.render(w, http.StatusOK, "exchange", newExchangePage(t, ex))
			return
		case action == "replay" && r.Method == http.MethodPost:
			s.replay(w, r, t, ex)
			return
		}
	}
	s.notFound(w)
}

// allowed reports whether r carries the tunnel's cookie.
func (t *Tunnel) allowed(r *http.Request) bool {
	c, err := r.Cookie(cookiePrefix + t.id)
	return err == nil && subtle.ConstantTimeCompare([]byte(c.Value), []byte(t.token)) == 1
}

// csrf is the tunnel's form token: derived from its secret, so it needs no
// state, and useless without the cookie.
func (t *Tunnel) csrf() string {
	m := hmac.New(sha256.New, []byte(t.token))
	m.Write([]byte("sshgress inspector replay"))
	return hex.EncodeToString(m.Sum(nil))
}

// replay sends ex again, unchanged or as edited in the form.
func (s *Store) replay(w http.ResponseWriter, r *http.Request, t *Tunnel, ex *Exchange) {
	if t.replay == nil {
		s.fail(w, http.StatusNotImplemented, "Replay is not available", "This tunnel cannot send requests again.")
		return
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		s.fail(w, http.StatusForbidden, "Replay refused", "The form was not sent from the inspector.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.fail(w, http.StatusBadRequest, "Replay refused", "The form is too large or malformed.")
		return
	}
	if !hmac.Equal([]byte(r.PostForm.Get("csrf")), []byte(t.csrf())) {
		s.fail(w, http.StatusForbidden, "Replay refused", "The form is stale or was not sent from the inspector; reload the page and try again.")
		return
	}
	rep := Replay{Method: ex.Method, Target: ex.Target, Header: replayHeader(ex.Header), Body: ex.Body.Data}
	if r.PostForm.Get("edited") != "1" && ex.Body.Truncated() {
		// Only the body's start was kept: sending it would be another
		// request than the one shown.
		s.fail(w, http.StatusConflict, "Replay refused", "The request body was longer than 64 KiB and only its start was kept, so it cannot be sent again unchanged. Use Replay with changes to send a body of your own.")
		return
	}
	if r.PostForm.Get("edited") == "1" {
		var err error
		if rep, err = editedReplay(r.PostForm); err != nil {
			s.fail(w, http.StatusBadRequest, "Replay refused", err.Error())
			return
		}
	}
	rep.Visitor, _ = netip.ParseAddrPort(r.RemoteAddr)
	ctx, cancel := context.WithTimeout(r.Context(), replayTimeout)
	defer cancel()
	id, err := t.replay(ctx, rep)
	if err != nil || id == 0 {
		msg := "The replay could not be sent through the tunnel."
		if err != nil {
			msg += " " + usererr.Message(err, "")
		}
		s.fail(w, http.StatusBadGateway, "Replay failed", msg)
		return
	}
	http.Redirect(w, r, pagesPath+t.id+"/x/"+strconv.Itoa(id), http.StatusSeeOther)
}

// replayHeader is a kept header as it is sent again: redacted values are
// left out rather than sent as the placeholder.
func replayHeader(h http.Header) http.Header {
	out := make(http.Header, len(h))
	for k, vv := range h {
		for _, v := range vv {
			if v != Redacted || !Secret(k) {
				out[k] = append(out[k], v)
			}
		}
	}
	return out
}

// formError is a replay form's mistake, in a sentence for the page.
type formError string

func (e formError) Error() string { return string(e) }

// editedReplay reads the edit form: method, target, headers one per line
// ("Name: value"), body.
func editedReplay(f map[string][]string) (Replay, error) {
	get := func(k string) string {
		if v := f[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	rep := Replay{Method: strings.ToUpper(strings.TrimSpace(get("method"))), Target: strings.TrimSpace(get("target")), Header: http.Header{}}
	if !validMethod(rep.Method) {
		return rep, formError("The method must be a word of letters, e.g. GET or POST.")
	}
	if !strings.HasPrefix(rep.Target, "/") || strings.ContainsAny(rep.Target, " \t\r\n") {
		return rep, formError("The path must start with / and contain no spaces.")
	}
	for _, line := range strings.Split(get("header_lines"), "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return rep, formError("Each header line must read Name: value.")
		}
		rep.Header.Add(k, strings.TrimSpace(v))
	}
	rep.Header = replayHeader(rep.Header)
	body := get("body")
	if len(body) > MaxBodyBytes {
		return rep, formError("The body may be at most 64 KiB.")
	}
	// Browsers send a textarea's line breaks as CRLF; the body shown had LF.
	body = strings.ReplaceAll(body, "\r\n", "\n")
	rep.Body = []byte(body)
	return rep, nil
}

func validMethod(m string) bool {
	if m == "" || len(m) > 16 || m == http.MethodConnect {
		return false
	}
	for i := 0; i < len(m); i++ {
		if m[i] < 'A' || m[i] > 'Z' {
			return false
		}
	}
	return true
}

func (s *Store) notFound(w http.ResponseWriter) {
	s.fail(w, http.StatusNotFound, "Not found", "There is no such inspector page. Links work while their tunnel is open.")
}

func (s *Store) fail(w http.ResponseWriter, status int, title, detail string) {
	s.render(w, status, "message", messagePage{Title: title, Detail: detail})
}
