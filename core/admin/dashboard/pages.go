package dashboard

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sshgress/sshgress/core/tunnel"
)

//go:embed templates/*.html templates/style.css
var files embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"tunnels": func(list []Tunnel, csrf string) tunnelsView { return tunnelsView{List: list, CSRF: csrf} },
	"bytes":   tunnel.Size,
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
}).ParseFS(files, "templates/*.html"))

var style, _ = files.ReadFile("templates/style.css")

func serveStyle(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "max-age=3600")
	w.Write(style)
}

// signInView is the sign-in page.
type signInView struct {
	SSHHost     string
	SignIn      bool
	SignInPath  string
	SignInTitle string
}

// homeView is a signed-in user's page.
type homeView struct {
	Account  Account
	Operator bool
	CSRF     string
	Flash    string // what the last action did
	Error    string // why this action changed nothing
	Invite   string // a new invite code, shown once
	Token    string // a new API token, shown once
	SSHHost  string // how users reach the SSH port (Options.SSHHost)
	Keys     []Key
	Tunnels  []Tunnel
	Commands []string
	Accounts []Account // operators only
	All      []Tunnel  // operators only
}

// secrets are what a page shows once, on the response that made them.
type secrets struct{ invite, token string }

// tunnelsView is a table of tunnels with close buttons.
type tunnelsView struct {
	List []Tunnel
	CSRF string
}

// errorView is an error page.
type errorView struct {
	Status int
	Title  string
	Detail string
}

// render writes a template; a failure is logged and answered with 500.
func (s *Server) render(w http.ResponseWriter, status int, name string, data any) {
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, name, data); err != nil {
		s.log.Error("dashboard: render", "page", name, "err", err)
		http.Error(w, "The page could not be shown.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// page shows an error page with a title and a sentence.
func (s *Server) page(w http.ResponseWriter, _ *http.Request, status int, title, detail string) {
	s.render(w, status, "error.html", errorView{Status: status, Title: title, Detail: detail})
}

// showHome renders the signed-in page from the backend's current state.
func (s *Server) showHome(w http.ResponseWriter, r *http.Request, sess *session, status int, flash, errMsg string, once secrets) {
	b := s.opts.Backend
	acct, err := b.Account(sess.account)
	if err != nil {
		s.sessions.end(cookieValue(r))
		s.setSession(w, "")
		s.page(w, r, http.StatusForbidden, "This account no longer exists", "The account you signed in as has been removed.")
		return
	}
	v := homeView{Account: acct, Operator: sess.operator, CSRF: sess.csrf, Flash: flash, Error: errMsg, Invite: once.invite, Token: once.token, SSHHost: s.opts.SSHHost}
	var errs []error
	v.Keys, err = b.Keys(sess.account)
	errs = append(errs, err)
	v.Tunnels, err = b.Tunnels(sess.account)
	errs = append(errs, err)
	if sess.operator {
		v.Accounts, err = b.Accounts()
		errs = append(errs, err)
		v.All, err = b.Tunnels("")
		errs = append(errs, err)
	}
	for _, err := range errs {
		if err != nil {
			s.log.Error("dashboard: backend failed", "account", sess.account, "err", err)
			s.page(w, r, http.StatusInternalServerError, "The dashboard cannot read your account", "An error on the edge stopped this page. Try again, and tell the operator if it keeps failing.")
			return
		}
	}
	v.Commands = s.commands(acct)
	s.render(w, status, "home.html", v)
}

// commands are ready-made ssh commands for this edge and account.
func (s *Server) commands(a Account) []string {
	dest := " v2@" + s.opts.SSHHost
	out := []string{
		"ssh -R 443:localhost:3000" + dest + " http",
		"ssh -R 443:localhost:3000" + dest + " http --help",
	}
	for _, d := range a.Domains {
		if !strings.HasPrefix(d, "*.") {
			out = append(out, "ssh -R "+d+":443:localhost:3000"+dest+" http")
		}
	}
	for _, t := range a.TCPAddresses {
		out = append(out, "ssh -R "+t+":localhost:22"+dest+" tcp")
	}
	return append(out, "ssh"+dest+" login")
}

func cookieValue(r *http.Request) string {
	if c, err := r.Cookie(CookieName); err == nil {
		return c.Value
	}
	return ""
}
