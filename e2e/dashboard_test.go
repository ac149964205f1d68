package e2e_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/sshgress/sshgress/core/admin/dashboard"
	"github.com/sshgress/sshgress/core/config"
	"github.com/sshgress/sshgress/e2e"
	"github.com/sshgress/sshgress/plugins/oauth"
	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"
)

// dashboardEdge starts an edge with the dashboard enabled on
// dashboard.localhost (the TLS port). With a provider, the oauth plugin
// runs (as a child process of the binary) with the provider as "corp".
func dashboardEdge(t *testing.T, provider *mockoidc.MockOIDC, configure func(*config.Config)) *e2e.Edge {
	t.Helper()
	e2e.RequireSSH(t)
	o := e2e.EdgeOptions{Bundled: bundled(), Configure: func(c *config.Config) {
		c.Dashboard.Enabled = true
		if provider != nil {
			yes := true
			c.Plugins = map[string]config.Plugin{oauth.Name: {Enabled: &yes, Config: map[string]any{
				"providers": map[string]any{"corp": map[string]any{
					"client_id": provider.ClientID, "client_secret": provider.ClientSecret, "issuer": provider.Issuer(),
				}},
			}}}
		}
		if configure != nil {
			configure(c)
		}
	}}
	if provider != nil {
		o.Binary = e2e.SharedBinary(t)
	}
	return e2e.StartEdge(t, o)
}

// dashboardURL is the dashboard's origin on the edge's TLS port.
func dashboardURL(edge *e2e.Edge) string {
	_, port, _ := net.SplitHostPort(edge.HTTPSAddr().String())
	return "https://dashboard.localhost:" + port
}

// dashBrowser is a headless Chromium for edge's dashboard, its steps
// bounded to 60 s (a test runs ssh sessions between them). Chromium
// resolves *.localhost to loopback itself and trusts the edge's local CA,
// so a certificate error shows its interstitial, not the dashboard.
func dashBrowser(t *testing.T, edge *e2e.Edge) context.Context {
	t.Helper()
	root, err := os.ReadFile(edge.LocalCARoot())
	if err != nil {
		t.Fatal(err)
	}
	return newBrowserFor(t, chromium(t), 60*time.Second, chromedp.Env("HOME="+nssHome(t, root)))
}

// pageText returns where the browser is and the text of its page.
func pageText(t *testing.T, ctx context.Context) (where, body string) {
	t.Helper()
	where, err := chromedp.Run(ctx, chromedp.Location())
	if err == nil {
		body, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	}
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	return where, body
}

// browse runs steps, then waits for sel and returns the page's text. The
// steps get 15 s (within ctx's own bound), so a page that never shows sel
// is still reported.
func browse(t *testing.T, ctx context.Context, sel string, steps ...chromedp.Action[chromedp.Void]) string {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	err := chromedp.Do(sctx, append(steps, chromedp.WaitReady(chromedp.CSS(sel)))...)
	cancel()
	where, body := pageText(t, ctx)
	if err != nil {
		t.Fatalf("browser at %s waiting for %s: %v\npage: %s", where, sel, err, body)
	}
	return body
}

var loginLinkRE = regexp.MustCompile(`https://\S+` + regexp.QuoteMeta(dashboard.LoginPath) + `[A-Za-z0-9_-]+`)

// loginLink runs `ssh … login` with key and returns the link it prints.
func loginLink(t *testing.T, edge *e2e.Edge, key *e2e.Key) string {
	t.Helper()
	s := edge.RunSSH(t, key, "v2@127.0.0.1", "login")
	if st := s.Wait(15 * time.Second); st != 0 {
		t.Fatalf("login: exit %d\n%s%s", st, s.Stdout, s.Stderr)
	}
	link := loginLinkRE.FindString(s.Stdout.String())
	if link == "" {
		t.Fatalf("login printed no link:\n%s", s.Stdout)
	}
	return link
}

// browserCookies returns the cookies Chromium would send to url.
func browserCookies(t *testing.T, ctx context.Context, url string) []*network.Cookie {
	t.Helper()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
	if err != nil {
		t.Fatalf("read Chromium's cookies: %v", err)
	}
	return res.Cookies
}

func cookieNames(cs []*network.Cookie) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

// TestDashboardOIDCInChromium: a member signs in through the real OIDC
// flow, adds a key on the dashboard, tunnels with it at once, sees the
// tunnel and closes it from the dashboard.
func TestDashboardOIDCInChromium(t *testing.T) {
	provider := startOIDC(t)
	edge := dashboardEdge(t, provider, func(c *config.Config) {
		c.Dashboard.SignIn = "--oauth corp"
		c.Dashboard.Members = []string{"Ann@Example.com=ann"}
	})
	if _, err := edge.Store().CreateAccount(context.Background(), "ann"); err != nil {
		t.Fatal(err)
	}
	base := dashboardURL(edge)
	ctx := dashBrowser(t, edge)

	provider.QueueUser(&mockoidc.MockUser{Subject: "sub-ann", Email: "ann@example.com", EmailVerified: true})
	body := browse(t, ctx, `a.button`, chromedp.Navigate(base+"/"))
	if !strings.Contains(body, "Sign in with OAuth (corp)") {
		t.Fatalf("sign-in page: %q", body)
	}
	body = browse(t, ctx, `form[action="/keys"]`, chromedp.Click(chromedp.CSS(`a.button`)))
	where, _ := pageText(t, ctx)
	if where != base+"/" || !strings.Contains(body, "Signed in as ann") {
		t.Fatalf("after the OIDC flow at %s: %q", where, body)
	}

	// The session cookie as Chromium holds it: Secure, HttpOnly (the
	// page's script cannot read it), SameSite, host-only; never logged.
	cookies := browserCookies(t, ctx, base)
	var session *network.Cookie
	for _, c := range cookies {
		if c.Name == dashboard.CookieName {
			session = c
		}
	}
	if session == nil {
		t.Fatalf("Chromium holds no %s cookie: %v", dashboard.CookieName, cookies)
	}
	if !session.Secure || !session.HTTPOnly || session.SameSite != network.CookieSameSiteLax && session.SameSite != network.CookieSameSiteStrict || session.Domain != "dashboard.localhost" || session.Path != "/" {
		t.Errorf("session cookie: secure %v, httpOnly %v, sameSite %q, domain %q, path %q", session.Secure, session.HTTPOnly, session.SameSite, session.Domain, session.Path)
	}
	if js, err := chromedp.Run(ctx, chromedp.Evaluate[string]("document.cookie")); err != nil || strings.Contains(js, session.Value) {
		t.Errorf("the page's script reads the session cookie (%v): %q", err, js)
	}

	key := e2e.NewKey(t, t.TempDir(), "laptop")
	fp := ssh.FingerprintSHA256(key.Signer.PublicKey())
	_, port := backend(t)
	// Before it is added, the edge refuses the key.
	if r := edge.RunSSH(t, key, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http"); r.Wait(15*time.Second) != 255 || !strings.Contains(r.Stderr.String(), "Permission denied") {
		t.Fatalf("a key on no account: %s", r.Stderr)
	}
	body = browse(t, ctx, `p.flash`,
		chromedp.SendKeys(chromedp.CSS(`#public_key`), key.AuthorizedKey),
		chromedp.SendKeys(chromedp.CSS(`#label`), "work laptop"),
		chromedp.Click(chromedp.CSS(`form[action="/keys"] button[type=submit]`)),
	)
	if !strings.Contains(body, "Key "+fp+" added") || !strings.Contains(body, "work laptop") || !strings.Contains(body, "ssh-ed25519 "+fp) {
		t.Fatalf("after adding the key the page shows: %q", body)
	}

	// The key works for the next ssh connection, without a restart.
	s := runSSHOnceAccepted(t, edge, key, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http")
	tunnelURL := s.URL(t)
	if st, got := edge.Get(t, tunnelURL+"/via-dashboard-key"); st != 200 || got != "hello from /via-dashboard-key" {
		t.Fatalf("GET through the tunnel: %d %q", st, got)
	}

	closeBtn := `button[aria-label="Close tunnel ` + tunnelURL + `"]`
	body = browse(t, ctx, closeBtn, chromedp.Navigate(base+"/"))
	if !strings.Contains(body, tunnelURL) {
		t.Fatalf("the dashboard does not list the live tunnel %s: %q", tunnelURL, body)
	}
	body = browse(t, ctx, `p.flash`, chromedp.Click(chromedp.CSS(closeBtn)))
	if !strings.Contains(body, "Tunnel closed.") || strings.Contains(body, tunnelURL) {
		t.Errorf("after closing, the page shows: %q", body)
	}
	if out := exitOutput(t, s); !strings.Contains(out, "you closed this tunnel on the dashboard") {
		t.Errorf("the ssh session does not say why it ended:\n%s", out)
	}
	if st, _ := edge.Get(t, tunnelURL+"/"); st == 200 {
		t.Errorf("the closed tunnel still serves")
	}

	// Deleting the key on the dashboard ends the connections made with it.
	s = runSSHOnceAccepted(t, edge, key, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http")
	s.URL(t)
	deleteBtn := `button[aria-label="Delete key ` + fp + `"]`
	body = browse(t, ctx, `p.flash`, chromedp.Navigate(base+"/"), chromedp.WaitReady(chromedp.CSS(deleteBtn)), chromedp.Click(chromedp.CSS(deleteBtn)))
	if !strings.Contains(body, "Key deleted.") || strings.Contains(body, fp) {
		t.Errorf("after deleting the key, the page shows: %q", body)
	}
	exitOutput(t, s)
	if keys, err := edge.Store().Keys(context.Background(), "ann"); err != nil || len(keys) != 0 {
		t.Errorf("ann's keys after the delete: %v %v", keys, err)
	}

	// Signing out ends what the edge holds for this browser: the next
	// sign-in goes back to the provider, which now answers with its
	// default user, an email no member has.
	body = browse(t, ctx, `a.button`, chromedp.Click(chromedp.CSS(`form[action="/logout"] button[type=submit]`)))
	if strings.Contains(body, "Signed in as") {
		t.Fatalf("after signing out: %q", body)
	}
	if left := browserCookies(t, ctx, base); len(left) != 0 {
		t.Errorf("cookies left on the dashboard host after signing out: %v", cookieNames(left))
	}
	if strings.Contains(edge.Logs.String(), session.Value) {
		t.Errorf("the edge logged the session cookie")
	}
	body = browse(t, ctx, `p[role=alert]`, chromedp.Click(chromedp.CSS(`a.button`)))
	if !strings.Contains(body, "No account for this email") || !strings.Contains(body, mockoidc.DefaultUser().Email) {
		t.Errorf("signing in again after signing out shows: %q", body)
	}
}

// TestDashboardLoginLinkInChromium: the link `ssh … login` prints signs
// Chromium in once; the same link again shows a clear refusal.
func TestDashboardLoginLinkInChromium(t *testing.T) {
	key := e2e.NewKey(t, t.TempDir(), "ann")
	edge := dashboardEdge(t, nil, func(c *config.Config) {
		c.Accounts = []config.Account{{Name: "ann", Keys: []string{key.AuthorizedKey}}}
	})
	link := loginLink(t, edge, key)
	if !strings.HasPrefix(link, dashboardURL(edge)+dashboard.LoginPath) {
		t.Fatalf("link %s is not on the dashboard %s", link, dashboardURL(edge))
	}
	token := strings.TrimPrefix(link, dashboardURL(edge)+dashboard.LoginPath)

	ctx := dashBrowser(t, edge)
	body := browse(t, ctx, `form[action="/keys"]`, chromedp.Navigate(link))
	if where, _ := pageText(t, ctx); where != dashboardURL(edge)+"/" || !strings.Contains(body, "Signed in as ann") {
		t.Fatalf("the link led to %s: %q", where, body)
	}

	// A second use, in another browser (no session cookie to hide the
	// refusal), and in the first one.
	for _, b := range []context.Context{dashBrowser(t, edge), ctx} {
		body = browse(t, b, `p[role=alert]`, chromedp.Navigate(link))
		if !strings.Contains(body, "This sign-in link is not valid") || !strings.Contains(body, "ssh v2@localhost -p "+edge.SSHPort+" login") {
			t.Errorf("a used link shows: %q", body)
		}
		if strings.Contains(body, "Signed in as") {
			t.Errorf("a used link signed in: %q", body)
		}
	}
	if logs := edge.Logs.String(); strings.Contains(logs, token) {
		t.Errorf("the edge logged the one-time token")
	}
}

// dashClient is a Go HTTPS client for the dashboard that verifies the
// edge's local CA and keeps no cookies.
func dashClient(t *testing.T, edge *e2e.Edge) *http.Client {
	return edge.HTTPSClient(t, e2e.RootPool(t, edge.LocalCARoot()))
}

// signInWithLink exchanges a one-time link for a session with client and
// returns the session cookie, the page's CSRF token and the home page.
func signInWithLink(t *testing.T, client *http.Client, link string) (*http.Cookie, string, string) {
	t.Helper()
	resp, err := client.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == dashboard.CookieName {
			session = c
		}
	}
	if resp.StatusCode != http.StatusSeeOther || session == nil {
		t.Fatalf("GET link: %d, cookies %q", resp.StatusCode, resp.Header.Values("Set-Cookie"))
	}
	base, _, _ := strings.Cut(link, dashboard.LoginPath)
	req, _ := http.NewRequest("GET", base+"/", nil)
	req.AddCookie(session)
	if resp, err = client.Do(req); err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(b)
	if resp.StatusCode != 200 || csrf == nil {
		t.Fatalf("home page: %d\n%s", resp.StatusCode, b)
	}
	return session, string(csrf[1]), string(b)
}

// TestDashboardSecurityHeaders checks the real server: the session cookie's
// attributes, a strict CSP, CSRF refusal that changes nothing, and no
// secret in the edge's log.
func TestDashboardSecurityHeaders(t *testing.T) {
	key := e2e.NewKey(t, t.TempDir(), "ann")
	edge := dashboardEdge(t, nil, func(c *config.Config) {
		c.Accounts = []config.Account{{Name: "ann", Keys: []string{key.AuthorizedKey}}}
	})
	if _, err := edge.Store().CreateAccount(context.Background(), "bob"); err != nil {
		t.Fatal(err)
	}
	client := dashClient(t, edge)
	base := dashboardURL(edge)
	do := func(req *http.Request) (*http.Response, string) {
		t.Helper()
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return resp, string(b)
	}

	link := loginLink(t, edge, key)
	token := strings.TrimPrefix(link, base+dashboard.LoginPath)
	req, _ := http.NewRequest("GET", link, nil)
	resp, _ := do(req)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("GET link: %d to %q, want 303 to /", resp.StatusCode, resp.Header.Get("Location"))
	}
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == dashboard.CookieName {
			session = c
		}
	}
	if session == nil {
		t.Fatalf("no %s cookie: %q", dashboard.CookieName, resp.Header.Values("Set-Cookie"))
	}
	if !session.Secure || !session.HttpOnly || session.SameSite == http.SameSiteNoneMode || session.SameSite == http.SameSiteDefaultMode || session.Domain != "" || session.Path != "/" {
		t.Errorf("session cookie %q: want Secure, HttpOnly, SameSite Lax or Strict, host-only, path /", resp.Header.Get("Set-Cookie"))
	}
	if strings.Contains(session.Value, token) || session.Value == "" {
		t.Errorf("the session cookie carries the link's token")
	}

	get := func(path string, cookie *http.Cookie) (*http.Response, string) {
		req, _ := http.NewRequest("GET", base+path, nil)
		if cookie != nil {
			req.AddCookie(cookie)
		}
		return do(req)
	}
	for _, tc := range []struct {
		name, path string
		cookie     *http.Cookie
		status     int
	}{
		{"sign-in page", "/", nil, 200},
		{"home page", "/", session, 200},
		{"error page", "/no-such-page", session, 404},
		{"used link", dashboard.LoginPath + token, nil, 403},
	} {
		resp, body := get(tc.path, tc.cookie)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d: %s", tc.name, resp.StatusCode, tc.status, body)
		}
		csp := resp.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "form-action 'self'", "base-uri 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", tc.name, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-") || strings.Contains(csp, "*") {
			t.Errorf("%s: CSP %q is not strict", tc.name, csp)
		}
		if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: X-Frame-Options %q, Cache-Control %q", tc.name, resp.Header.Get("X-Frame-Options"), resp.Header.Get("Cache-Control"))
		}
	}
	_, home := get("/", session)
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(home)
	if csrf == nil || !strings.Contains(home, "Signed in as") {
		t.Fatalf("the home page has no CSRF token: %s", home)
	}

	// POSTs without the session's CSRF token change nothing.
	other := e2e.NewKey(t, t.TempDir(), "other")
	for _, tc := range []struct{ name, token string }{{"no token", ""}, {"wrong token", csrf[1] + "x"}} {
		form := url.Values{"public_key": {other.AuthorizedKey}, "label": {"csrf"}}
		if tc.token != "" {
			form.Set("csrf", tc.token)
		}
		req, _ := http.NewRequest("POST", base+"/keys", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "https://evil.example")
		req.AddCookie(session)
		resp, body := do(req)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Form expired") {
			t.Errorf("%s: POST /keys: %d %s", tc.name, resp.StatusCode, body)
		}
		form = url.Values{"account": {"bob"}, "ttl": {"1h"}, "csrf": {tc.token}}
		req, _ = http.NewRequest("POST", base+"/invites", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(session)
		if resp, body := do(req); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Form expired") {
			t.Errorf("%s: POST /invites: %d %s", tc.name, resp.StatusCode, body)
		}
	}
	// A token of the session without its cookie is refused too.
	form := url.Values{"public_key": {other.AuthorizedKey}, "csrf": {csrf[1]}}
	req, _ = http.NewRequest("POST", base+"/keys", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp, _ := do(req); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST /keys without the cookie: %d, want 401", resp.StatusCode)
	}
	for _, account := range []string{"ann", "bob"} {
		if keys, err := edge.Store().Keys(context.Background(), account); err != nil || len(keys) != 0 {
			t.Errorf("refused POSTs changed %s's keys: %v %v", account, keys, err)
		}
	}

	// The dashboard over plain HTTP sets no cookie and serves no page.
	preq, _ := http.NewRequest("GET", "http://dashboard.localhost"+dashboard.LoginPath+"x", nil)
	presp, err := edge.Client().Do(preq)
	if err != nil {
		t.Fatal(err)
	}
	pbody, _ := io.ReadAll(io.LimitReader(presp.Body, 1<<20))
	presp.Body.Close()
	if presp.StatusCode == 200 || len(presp.Cookies()) != 0 || strings.Contains(string(pbody), "csrf") {
		t.Errorf("plain HTTP: %d, cookies %q", presp.StatusCode, presp.Header.Values("Set-Cookie"))
	}
	// A page asked for in clear is sent to its https address, with no
	// cookie and nothing of the query.
	hreq, _ := http.NewRequest("GET", "http://dashboard.localhost/?next=x", nil)
	hresp, err := edge.Client().Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	hresp.Body.Close()
	if loc := hresp.Header.Get("Location"); hresp.StatusCode != http.StatusPermanentRedirect || !strings.HasPrefix(loc, "https://dashboard.localhost") || strings.Contains(loc, "next") || len(hresp.Cookies()) != 0 {
		t.Errorf("plain HTTP home page: %d to %q, cookies %q; want 308 to the https page", hresp.StatusCode, loc, hresp.Header.Values("Set-Cookie"))
	}

	logs := edge.Logs.String()
	for name, secret := range map[string]string{"link token": token, "session cookie": session.Value, "CSRF token": csrf[1]} {
		if strings.Contains(logs, secret) {
			t.Errorf("the edge logged the %s", name)
		}
	}
}

// TestDashboardOperatorInvite: an operator sees every account and tunnel
// and creates an invite on the dashboard; a new key registers with it.
func TestDashboardOperatorInvite(t *testing.T) {
	dir := t.TempDir()
	op, carol, dave := e2e.NewKey(t, dir, "op"), e2e.NewKey(t, dir, "carol"), e2e.NewKey(t, dir, "dave")
	edge := dashboardEdge(t, nil, func(c *config.Config) {
		c.SSH.Registration = config.RegistrationInvite
		c.Dashboard.Operators = []string{"op"}
		c.Accounts = []config.Account{{Name: "op", Keys: []string{op.AuthorizedKey}}, {Name: "carol", Keys: []string{carol.AuthorizedKey}}}
	})
	if _, err := edge.Store().CreateAccount(context.Background(), "newcomer"); err != nil {
		t.Fatal(err)
	}
	_, port := backend(t)
	s := edge.RunSSH(t, carol, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http")
	carolURL := s.URL(t)

	ctx := dashBrowser(t, edge)
	body := browse(t, ctx, `#all-accounts`, chromedp.Navigate(loginLink(t, edge, op)))
	if !strings.Contains(body, "Signed in as op (operator)") {
		t.Fatalf("operator's page: %q", body)
	}
	accounts, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`section[aria-labelledby=all-accounts]`)))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"op", "carol", "newcomer", carolURL} {
		if !strings.Contains(accounts, want) {
			t.Errorf("the operator's section lacks %q: %q", want, accounts)
		}
	}

	body = browse(t, ctx, `#invite`,
		chromedp.SendKeys(chromedp.CSS(`#invite-account`), "newcomer"),
		chromedp.Click(chromedp.CSS(`form[action="/invites"] button[type=submit]`)),
	)
	code, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#invite`)))
	if err != nil || strings.TrimSpace(code) == "" {
		t.Fatalf("no invite code on the page (%v): %q", err, body)
	}
	code = strings.TrimSpace(code)
	// The page tells the invited user the whole command for this edge.
	shown, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#register-command`)))
	if want := "ssh v2@localhost -p " + edge.SSHPort + " register " + code; err != nil || shown != want {
		t.Errorf("the page says to run %q (%v), want %q", shown, err, want)
	}

	// The new key runs that command as shown (after the harness's own
	// options: no user config, no host-key prompt).
	r := edge.RunSSH(t, dave, strings.Fields(strings.TrimPrefix(shown, "ssh "))...)
	if st := r.Wait(15 * time.Second); st != 0 || !strings.Contains(r.Stdout.String(), "account newcomer") {
		t.Fatalf("register with the dashboard's invite: exit %d\n%s%s", st, r.Stdout, r.Stderr)
	}
	if strings.Contains(edge.Logs.String(), code) {
		t.Errorf("the edge logged the invite code")
	}
	d := runSSHOnceAccepted(t, edge, dave, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http")
	daveURL := d.URL(t)
	if st, _ := edge.Get(t, daveURL); st != 200 {
		t.Errorf("the newcomer's tunnel: %d", st)
	}

	// A user sees only their own tunnels and cannot close another's,
	// even with the id the operator's page shows.
	browse(t, ctx, `button[aria-label="Close tunnel `+daveURL+`"]`, chromedp.Navigate(dashboardURL(edge)+"/"))
	action, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('button[aria-label="Close tunnel `+daveURL+`"]').form.getAttribute("action")`))
	if err != nil || !strings.HasPrefix(action, "/tunnels/") {
		t.Fatalf("the close form of the newcomer's tunnel: %q %v", action, err)
	}
	client := dashClient(t, edge)
	cookie, csrf, page := signInWithLink(t, client, loginLink(t, edge, carol))
	if !strings.Contains(page, carolURL) || strings.Contains(page, daveURL) || strings.Contains(page, "All accounts") {
		t.Errorf("carol's page shows other accounts' tunnels, or not her own:\n%s", page)
	}
	req, _ := http.NewRequest("POST", dashboardURL(edge)+action, strings.NewReader(url.Values{"csrf": {csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(cookie)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("carol closing the newcomer's tunnel: %d, want 404", resp.StatusCode)
	}
	if st, _ := edge.Get(t, daveURL); st != 200 {
		t.Errorf("the newcomer's tunnel after carol's attempt: %d", st)
	}

	// The operator closes carol's tunnel; carol's session says who did.
	closeBtn := `section[aria-labelledby=all-accounts] button[aria-label="Close tunnel ` + carolURL + `"]`
	browse(t, ctx, `p.flash`, chromedp.Navigate(dashboardURL(edge)+"/"), chromedp.WaitReady(chromedp.CSS(closeBtn)), chromedp.Click(chromedp.CSS(closeBtn)))
	if out := exitOutput(t, s); !strings.Contains(out, "the operator closed this tunnel on the dashboard") {
		t.Errorf("carol's session does not say why it ended:\n%s", out)
	}
}

// exitOutput waits (bounded) for ssh to exit and returns what it printed.
func exitOutput(t *testing.T, s *e2e.SSH) string {
	t.Helper()
	waitExit(t, s, time.Now(), "the closed tunnel's ssh")
	return s.Stdout.String() + s.Stderr.String()
}
