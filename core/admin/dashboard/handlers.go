package dashboard

import (
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/sshgress/sshgress/core/usererr"
)

// current returns the request's live session.
func (s *Server) current(r *http.Request) (*session, bool) {
	c, err := r.Cookie(CookieName)
	if err != nil {
		return nil, false
	}
	return s.sessions.lookup(c.Value)
}

// signedIn runs h for a POST of a signed-in session whose form carries the
// session's CSRF token; anything else is refused and changes nothing.
func (s *Server) signedIn(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, ok := s.current(r)
		if !ok {
			s.page(w, r, http.StatusUnauthorized, "You are not signed in", "Your session has ended or never started. Sign in again.")
			return
		}
		var err error
		if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
			err = r.ParseMultipartForm(MaxBodyBytes)
		} else {
			err = r.ParseForm()
		}
		if err != nil {
			if _, big := errors.AsType[*http.MaxBytesError](err); big {
				s.page(w, r, http.StatusRequestEntityTooLarge, "Too much data", "The form was larger than 64 KiB. An SSH public key is one short line.")
				return
			}
			s.page(w, r, http.StatusBadRequest, "Unreadable form", "The form could not be read. Reload the page and try again.")
			return
		}
		if !sess.csrfOK(r.PostFormValue("csrf")) {
			s.page(w, r, http.StatusForbidden, "Form expired", "This form does not belong to your current session (it may come from another site or an old tab). Reload the dashboard and try again.")
			return
		}
		h(w, r, sess)
	}
}

// setSession sets the session cookie (or clears it when id is "").
func (s *Server) setSession(w http.ResponseWriter, id string) {
	c := &http.Cookie{Name: CookieName, Value: id, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode}
	if id == "" {
		c.MaxAge = -1
	} else {
		c.MaxAge = int(s.opts.SessionTTL / time.Second)
	}
	http.SetCookie(w, c)
}

// start opens a session for account and sends the browser to the clean
// home page.
func (s *Server) start(w http.ResponseWriter, r *http.Request, account, how string) {
	id, _, err := s.sessions.create(account, slices.Contains(s.opts.Operators, account))
	if err != nil {
		s.page(w, r, http.StatusServiceUnavailable, "Try again later", "The dashboard has too many open sessions right now.")
		return
	}
	s.log.Info("dashboard sign-in", "account", account, "method", how)
	s.setSession(w, id)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// login exchanges a one-time link for a session at once; the redirect
// leaves a clean URL in the history.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	account, ok := s.sessions.useLink(r.PathValue("token"))
	if !ok {
		s.page(w, r, http.StatusForbidden, "This sign-in link is not valid",
			"Sign-in links work once and only for a few minutes. Get a new one with: ssh v2@"+s.opts.SSHHost+" login")
		return
	}
	if _, err := s.opts.Backend.Account(account); err != nil {
		s.page(w, r, http.StatusForbidden, "This account no longer exists", "The account this link was made for has been removed.")
		return
	}
	s.start(w, r, account, "link")
}

// signIn runs the operator's sign-in middleware; a verified email listed
// in Members gets a session for its account.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	email, ok := s.opts.SignIn(w, r)
	if !ok {
		return
	}
	account, listed := s.opts.Members[strings.ToLower(email)]
	if !listed {
		s.log.Info("dashboard sign-in refused: email maps to no account")
		s.page(w, r, http.StatusForbidden, "No account for this email",
			"You signed in as "+email+", but that address belongs to no account on this edge. Ask the operator to add it, or sign in with a link from: ssh v2@"+s.opts.SSHHost+" login")
		return
	}
	if _, err := s.opts.Backend.Account(account); err != nil {
		s.page(w, r, http.StatusForbidden, "No account for this email", "The account for "+email+" does not exist on this edge. Ask the operator.")
		return
	}
	s.start(w, r, account, "sign-in middleware")
}

// logout ends the session on the server and expires every cookie the
// browser sent to this host: the sign-in middleware runs on this host and
// keeps its own session in cookies here, and left alone it would sign the
// browser straight back in on the next "Sign in", without the provider.
func (s *Server) logout(w http.ResponseWriter, r *http.Request, _ *session) {
	if c, err := r.Cookie(CookieName); err == nil {
		s.sessions.end(c.Value)
	}
	s.setSession(w, "")
	seen := map[string]bool{CookieName: true}
	for _, c := range r.Cookies() {
		if !seen[c.Name] {
			seen[c.Name] = true
			http.SetCookie(w, &http.Cookie{Name: c.Name, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: -1})
		}
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// home shows the sign-in page, or the signed-in user's page.
func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.current(r)
	if !ok {
		s.render(w, http.StatusOK, "signin.html", signInView{SSHHost: s.opts.SSHHost, SignIn: s.opts.SignIn != nil, SignInPath: SignInPath, SignInTitle: s.opts.SignInTitle})
		return
	}
	s.showHome(w, r, sess, http.StatusOK, s.sessions.takeFlash(sess), "", secrets{})
}

// done ends a successful POST: the message shows on the home page after a
// redirect, so a reload does not repeat the action.
func (s *Server) done(w http.ResponseWriter, r *http.Request, sess *session, msg string) {
	s.sessions.setFlash(sess, msg)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// failed shows the home page with err as a sentence; nothing changed.
func (s *Server) failed(w http.ResponseWriter, r *http.Request, sess *session, err error) {
	status := http.StatusBadRequest
	msg := usererr.Message(err, "")
	switch {
	case errors.Is(err, ErrNotFound):
		status, msg = http.StatusNotFound, "There is no such item on your account. Nothing was changed."
	case msg == "":
		s.log.Error("dashboard: backend failed", "account", sess.account, "err", err)
		status, msg = http.StatusInternalServerError, "The change could not be saved because of an error on the edge. Nothing was changed; try again, and tell the operator if it keeps failing."
	}
	s.showHome(w, r, sess, status, "", msg, secrets{})
}

func (s *Server) addKey(w http.ResponseWriter, r *http.Request, sess *session) {
	key := strings.TrimSpace(r.PostFormValue("public_key"))
	if f, _, err := r.FormFile("key_file"); err == nil {
		b, err := io.ReadAll(io.LimitReader(f, MaxBodyBytes))
		f.Close()
		if err == nil && strings.TrimSpace(string(b)) != "" {
			if key != "" {
				s.failed(w, r, sess, usererr.New("Paste a key or upload a file, not both."))
				return
			}
			key = strings.TrimSpace(string(b))
		}
	}
	label := strings.TrimSpace(r.PostFormValue("label"))
	switch {
	case key == "":
		s.failed(w, r, sess, usererr.New("Paste a public key (a line like \"ssh-ed25519 AAAA… you@laptop\") or upload your .pub file."))
		return
	case strings.ContainsAny(key, "\r\n"):
		s.failed(w, r, sess, usererr.New("Add one key at a time: the text has more than one line."))
		return
	case strings.Contains(key, "PRIVATE KEY"):
		s.failed(w, r, sess, usererr.New("That is a private key: never paste it anywhere. Paste the public key (the .pub file) instead, and consider this private key exposed."))
		return
	case len(label) > 100:
		s.failed(w, r, sess, usererr.New("The label is longer than 100 characters."))
		return
	}
	k, err := s.opts.Backend.AddKey(sess.account, key, label)
	if err != nil {
		s.failed(w, r, sess, err)
		return
	}
	s.done(w, r, sess, "Key "+k.Fingerprint+" added. It works for your next ssh connection.")
}

func (s *Server) deleteKey(w http.ResponseWriter, r *http.Request, sess *session) {
	if err := s.opts.Backend.DeleteKey(sess.account, r.PathValue("id")); err != nil {
		s.failed(w, r, sess, err)
		return
	}
	s.done(w, r, sess, "Key deleted. Connections made with it are closed.")
}

func (s *Server) closeTunnel(w http.ResponseWriter, r *http.Request, sess *session) {
	owner := sess.account
	if sess.operator {
		owner = ""
	}
	if err := s.opts.Backend.CloseTunnel(owner, r.PathValue("id")); err != nil {
		s.failed(w, r, sess, err)
		return
	}
	s.done(w, r, sess, "Tunnel closed.")
}

func (s *Server) createInvite(w http.ResponseWriter, r *http.Request, sess *session) {
	if !sess.operator {
		s.page(w, r, http.StatusForbidden, "Operators only", "Only an operator can create invites.")
		return
	}
	account := strings.TrimSpace(r.PostFormValue("account"))
	ttl, err := time.ParseDuration(strings.TrimSpace(r.PostFormValue("ttl")))
	if err != nil || ttl <= 0 || ttl > 30*24*time.Hour {
		s.failed(w, r, sess, usererr.New("The validity must be a duration like 24h, at most 720h."))
		return
	}
	if account == "" {
		s.failed(w, r, sess, usererr.New("Name the account the invite is for."))
		return
	}
	code, err := s.opts.Backend.CreateInvite(account, ttl)
	if err != nil {
		s.failed(w, r, sess, err)
		return
	}
	// The code is shown once, on this response only (no redirect, no
	// flash): reloading does not show it again.
	s.showHome(w, r, sess, http.StatusCreated, "", "", secrets{invite: code})
}

// createToken makes a management API token for the signed-in account,
// shown once on this response only, like an invite code.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request, sess *session) {
	tok, err := s.opts.Backend.CreateToken(sess.account)
	if err != nil {
		s.failed(w, r, sess, err)
		return
	}
	s.log.Info("dashboard: api token created", "account", sess.account)
	s.showHome(w, r, sess, http.StatusCreated, "", "", secrets{token: tok})
}
