package dashboard

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

const wantCSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// TestSecurityHeaders checks every kind of response carries the strict CSP
// and framing refusal.
func TestSecurityHeaders(t *testing.T) {
	f := newFixture(t)
	cookie := f.signIn(t, "ann")
	cases := []struct {
		name, method, path string
		cookie             string
	}{
		{"sign-in page", "GET", "/", ""},
		{"home", "GET", "/", cookie},
		{"bad link", "GET", "/login/nope", ""},
		{"style", "GET", "/style.css", ""},
		{"not found", "GET", "/nope", cookie},
		{"post without csrf", "POST", "/keys", cookie},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := f.do(t, tc.method, tc.path, nil, "Cookie", tc.cookie)
			if got := res.Header.Get("Content-Security-Policy"); got != wantCSP {
				t.Errorf("CSP = %q, want %q", got, wantCSP)
			}
			if got := res.Header.Get("X-Frame-Options"); got != "DENY" {
				t.Errorf("X-Frame-Options = %q, want DENY", got)
			}
			if got := res.Header.Get("Referrer-Policy"); got != "no-referrer" {
				t.Errorf("Referrer-Policy = %q, want no-referrer", got)
			}
		})
	}
}

// TestNoInlineScriptOrStyle keeps the pages within the CSP: no script, no
// inline style, forms post to the dashboard itself.
func TestNoInlineScriptOrStyle(t *testing.T) {
	f := newFixture(t)
	page, _ := f.home(t, f.signIn(t, "root"))
	signin := body(t, f.do(t, "GET", "/", nil))
	for name, b := range map[string]string{"home": page, "sign-in": signin} {
		for _, bad := range []string{"<script", "style=", "<style", " on"} {
			if strings.Contains(strings.ToLower(b), bad+"click") || bad != " on" && strings.Contains(strings.ToLower(b), bad) {
				t.Errorf("%s page contains %q", name, bad)
			}
		}
	}
	for _, want := range []string{`<label for="public_key">`, `<label for="label">`, `<label for="key_file">`, `<label for="invite-account">`, "<h1>"} {
		if !strings.Contains(page, want) {
			t.Errorf("home page lacks %s", want)
		}
	}
}

// TestPlainHTTPRefused: the dashboard never serves in clear: a page is
// redirected to https, a sign-in link or a form post is refused.
func TestPlainHTTPRefused(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/", http.StatusPermanentRedirect},
		{"GET", LoginPath + "secret", http.StatusForbidden},
		{"POST", "/keys", http.StatusForbidden},
	} {
		r, _ := http.NewRequest(tc.method, "http://dashboard.example.com"+tc.path, nil)
		w := httptest.NewRecorder()
		f.srv.ServeHTTP(w, r)
		if w.Code != tc.want || len(w.Result().Cookies()) != 0 {
			t.Errorf("plain http %s %s: status %d, cookies %v; want %d and none", tc.method, tc.path, w.Code, w.Result().Cookies(), tc.want)
		}
		if loc := w.Header().Get("Location"); tc.want == http.StatusPermanentRedirect && !strings.HasPrefix(loc, "https://") {
			t.Errorf("plain http %s: redirected to %q, want an https address", tc.path, loc)
		}
	}
}

// TestCookieAttributes checks the session cookie's attributes as sent.
func TestCookieAttributes(t *testing.T) {
	f := newFixture(t)
	link, _ := f.srv.MintLoginLink("ann")
	res := f.do(t, "GET", strings.TrimPrefix(link, "https://dashboard.example.com"), nil)
	raw := res.Header.Get("Set-Cookie")
	for _, want := range []string{CookieName + "=", "Path=/", "HttpOnly", "Secure", "SameSite=Lax"} {
		if !strings.Contains(raw, want) {
			t.Errorf("Set-Cookie %q lacks %q", raw, want)
		}
	}
	if strings.Contains(strings.ToLower(raw), "domain=") {
		t.Errorf("Set-Cookie %q has a Domain (a __Host- cookie must not)", raw)
	}
	if !strings.HasPrefix(CookieName, "__Host-") {
		t.Errorf("cookie name %q lacks the __Host- prefix", CookieName)
	}
	if loc := res.Header.Get("Location"); loc != "/" {
		t.Errorf("after the link: Location %q, want / (a clean URL)", loc)
	}
}

// TestLoginLink checks a link works once and only before it expires.
func TestLoginLink(t *testing.T) {
	f := newFixture(t)
	path := func(t *testing.T) string {
		link, err := f.srv.MintLoginLink("ann")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(link, "https://dashboard.example.com"+LoginPath) {
			t.Fatalf("link %q", link)
		}
		return strings.TrimPrefix(link, "https://dashboard.example.com")
	}
	t.Run("reuse refused", func(t *testing.T) {
		p := path(t)
		if res := f.do(t, "GET", p, nil); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("first use: %d, want 303", res.StatusCode)
		}
		res := f.do(t, "GET", p, nil)
		if b := body(t, res); res.StatusCode != http.StatusForbidden || !strings.Contains(b, "work once") {
			t.Errorf("second use: %d, want 403 with a sentence\n%s", res.StatusCode, b)
		}
		if len(res.Cookies()) != 0 {
			t.Errorf("second use set a cookie")
		}
	})
	t.Run("expired refused", func(t *testing.T) {
		p := path(t)
		f.clock.add(DefaultLinkTTL + time.Second)
		if res := f.do(t, "GET", p, nil); res.StatusCode != http.StatusForbidden {
			t.Errorf("expired link: %d, want 403", res.StatusCode)
		}
	})
	t.Run("just before expiry", func(t *testing.T) {
		p := path(t)
		f.clock.add(DefaultLinkTTL - time.Second)
		if res := f.do(t, "GET", p, nil); res.StatusCode != http.StatusSeeOther {
			t.Errorf("link within its life: %d, want 303", res.StatusCode)
		}
	})
	t.Run("unknown account", func(t *testing.T) {
		if _, err := f.srv.MintLoginLink("mallory"); err == nil {
			t.Error("MintLoginLink(unknown account) succeeded")
		}
	})
	t.Run("session expires", func(t *testing.T) {
		cookie := f.signIn(t, "ann")
		f.clock.add(DefaultSessionTTL)
		res := f.do(t, "GET", "/", nil, "Cookie", cookie)
		if b := body(t, res); !strings.Contains(b, "Sign in to") {
			t.Errorf("expired session still signed in")
		}
	})
}

// TestCSRF: a POST without the session's token changes nothing.
func TestCSRF(t *testing.T) {
	f := newFixture(t)
	ann := f.signIn(t, "ann")
	_, annToken := f.home(t, ann)
	bob := f.signIn(t, "bob")
	_, bobToken := f.home(t, bob)
	key := newPublicKey(t, "ann@laptop")
	for _, tc := range []struct{ name, token string }{{"none", ""}, {"wrong", "x" + annToken[1:]}, {"another session's", bobToken}} {
		t.Run(tc.name, func(t *testing.T) {
			res, b := f.post(t, ann, "/keys", url.Values{"csrf": {tc.token}, "public_key": {key}})
			if res.StatusCode != http.StatusForbidden || !strings.Contains(b, "does not belong to your current session") {
				t.Errorf("status %d, want 403 with a sentence\n%s", res.StatusCode, b)
			}
			if ks, _ := f.mem.Keys("ann"); len(ks) != 0 {
				t.Errorf("refused POST added a key")
			}
		})
	}
	res, _ := f.post(t, ann, "/keys", url.Values{"csrf": {annToken}, "public_key": {key}, "label": {"laptop"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("with the token: %d, want 303", res.StatusCode)
	}
	if ks, _ := f.mem.Keys("ann"); len(ks) != 1 || ks[0].Label != "laptop" {
		t.Errorf("keys after add: %+v", ks)
	}
}

// TestSignedOutPost is refused.
func TestSignedOutPost(t *testing.T) {
	f := newFixture(t)
	res := f.do(t, "POST", "/keys", strings.NewReader("csrf=x"), "Content-Type", "application/x-www-form-urlencoded")
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("status %d, want 401", res.StatusCode)
	}
}

// TestKeys covers adding, listing and deleting keys, and bad input.
func TestKeys(t *testing.T) {
	f := newFixture(t)
	ann := f.signIn(t, "ann")
	_, tok := f.home(t, ann)
	key := newPublicKey(t, "ann@laptop")
	res, _ := f.post(t, ann, "/keys", url.Values{"csrf": {tok}, "public_key": {key}, "label": {"laptop"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("add: %d", res.StatusCode)
	}
	ks, _ := f.mem.Keys("ann")
	page, _ := f.home(t, ann)
	for _, want := range []string{ks[0].Fingerprint, "laptop", "added. It works for your next ssh connection"} {
		if !strings.Contains(page, want) {
			t.Errorf("home page lacks %q", want)
		}
	}

	bad := []struct{ name, key, want string }{
		{"empty", "", "Paste a public key"},
		{"garbage", "ssh-ed25519 notbase64", "not an SSH public key"},
		{"two lines", key + "\n" + key, "one key at a time"},
		{"private key", "-----BEGIN OPENSSH PRIVATE KEY-----", "private key"},
		{"on another account", key, "already on account ann"},
	}
	bob := f.signIn(t, "bob")
	_, bobTok := f.home(t, bob)
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			res, b := f.post(t, bob, "/keys", url.Values{"csrf": {bobTok}, "public_key": {tc.key}})
			if res.StatusCode != http.StatusBadRequest || !strings.Contains(b, tc.want) {
				t.Errorf("status %d, want 400 with %q", res.StatusCode, tc.want)
			}
			if ks, _ := f.mem.Keys("bob"); len(ks) != 0 {
				t.Errorf("bad input added a key: %+v", ks)
			}
		})
	}

	t.Run("another account's key is invisible and undeletable", func(t *testing.T) {
		page, _ := f.home(t, bob)
		if strings.Contains(page, ks[0].Fingerprint) {
			t.Errorf("bob's page shows ann's key")
		}
		res, _ := f.post(t, bob, "/keys/"+ks[0].ID+"/delete", url.Values{"csrf": {bobTok}})
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("bob deleting ann's key: %d, want 404", res.StatusCode)
		}
		if got, _ := f.mem.Keys("ann"); len(got) != 1 {
			t.Errorf("ann's key was deleted by bob")
		}
	})
	t.Run("delete own", func(t *testing.T) {
		res, _ := f.post(t, ann, "/keys/"+ks[0].ID+"/delete", url.Values{"csrf": {tok}})
		if res.StatusCode != http.StatusSeeOther {
			t.Errorf("delete: %d, want 303", res.StatusCode)
		}
		if got, _ := f.mem.Keys("ann"); len(got) != 0 {
			t.Errorf("key not deleted")
		}
	})
	t.Run("upload", func(t *testing.T) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		mw.WriteField("csrf", tok)
		mw.WriteField("label", "uploaded")
		fw, _ := mw.CreateFormFile("key_file", "id_ed25519.pub")
		fw.Write([]byte(newPublicKey(t, "up") + "\n"))
		mw.Close()
		res := f.do(t, "POST", "/keys", &buf, "Cookie", ann, "Content-Type", mw.FormDataContentType())
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("upload: %d %s", res.StatusCode, body(t, res))
		}
		if got, _ := f.mem.Keys("ann"); len(got) != 1 || got[0].Label != "uploaded" {
			t.Errorf("after upload: %+v", got)
		}
	})
	t.Run("oversized body", func(t *testing.T) {
		res, b := f.post(t, ann, "/keys", url.Values{"csrf": {tok}, "public_key": {strings.Repeat("A", MaxBodyBytes+1)}})
		if res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(b, "64 KiB") {
			t.Errorf("status %d, want 413 with a sentence", res.StatusCode)
		}
	})
}

// TestTunnelsPage: users see and close only their own tunnels.
func TestTunnelsPage(t *testing.T) {
	f := newFixture(t)
	ann := f.signIn(t, "ann")
	page, tok := f.home(t, ann)
	if !strings.Contains(page, "https://ann.example.org") || strings.Contains(page, "tcp.example.com:20001") {
		t.Errorf("ann's page: want her tunnel only\n%s", page)
	}
	res, _ := f.post(t, ann, "/tunnels/t-bob/close", url.Values{"csrf": {tok}})
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("ann closing bob's tunnel: %d, want 404", res.StatusCode)
	}
	if ts, _ := f.mem.Tunnels("bob"); len(ts) != 1 {
		t.Errorf("bob's tunnel was closed")
	}
	if res, _ := f.post(t, ann, "/tunnels/t-ann/close", url.Values{"csrf": {tok}}); res.StatusCode != http.StatusSeeOther {
		t.Errorf("ann closing her tunnel: %d, want 303", res.StatusCode)
	}
	if ts, _ := f.mem.Tunnels("ann"); len(ts) != 0 {
		t.Errorf("ann's tunnel still open")
	}
}

// TestCommandsAndNames: the page shows ssh commands for this edge and the
// account's reserved names.
func TestCommandsAndNames(t *testing.T) {
	f := newFixture(t)
	page, _ := f.home(t, f.signIn(t, "ann"))
	for _, want := range []string{
		"ssh -R 443:localhost:3000 v2@example.com -p 2222 http",
		"ssh -R ann.example.org:443:localhost:3000 v2@example.com -p 2222 http",
		"ssh v2@example.com -p 2222 login",
		"<code>ann.example.org</code>",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	page, _ = f.home(t, f.signIn(t, "bob"))
	if !strings.Contains(page, "ssh -R tcp.example.com:20001:localhost:22 v2@example.com -p 2222 tcp") {
		t.Errorf("bob's page lacks his tcp command")
	}
}

// TestOperator: operators see everything and create invites; users cannot.
func TestOperator(t *testing.T) {
	f := newFixture(t)
	root := f.signIn(t, "root")
	page, tok := f.home(t, root)
	for _, want := range []string{"All accounts", "tcp.example.com:20001", "https://ann.example.org", "Create an invite"} {
		if !strings.Contains(page, want) {
			t.Errorf("operator page lacks %q", want)
		}
	}
	res, b := f.post(t, root, "/invites", url.Values{"csrf": {tok}, "account": {"bob"}, "ttl": {"24h"}})
	if res.StatusCode != http.StatusCreated || !strings.Contains(b, `<code id="invite">code-0</code>`) || !strings.Contains(b, `ssh v2@example.com -p 2222 register code-0`) {
		t.Errorf("create invite: %d\n%s", res.StatusCode, b)
	}
	if again, _ := f.home(t, root); strings.Contains(again, "code-0") {
		t.Errorf("invite code shown a second time")
	}
	if res, b := f.post(t, root, "/invites", url.Values{"csrf": {tok}, "account": {"bob"}, "ttl": {"forever"}}); res.StatusCode != http.StatusBadRequest || !strings.Contains(b, "duration") {
		t.Errorf("bad ttl: %d", res.StatusCode)
	}
	if res, _ := f.post(t, root, "/tunnels/t-bob/close", url.Values{"csrf": {tok}}); res.StatusCode != http.StatusSeeOther {
		t.Errorf("operator closing bob's tunnel: %d, want 303", res.StatusCode)
	}

	ann := f.signIn(t, "ann")
	page, annTok := f.home(t, ann)
	if strings.Contains(page, "All accounts") || strings.Contains(page, "Create an invite") {
		t.Errorf("user page shows operator sections")
	}
	if res, _ := f.post(t, ann, "/invites", url.Values{"csrf": {annTok}, "account": {"ann"}, "ttl": {"1h"}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("user creating an invite: %d, want 403", res.StatusCode)
	}
	if len(f.mem.invites) != 1 {
		t.Errorf("invites: %v, want one", f.mem.invites)
	}
}

// TestSignInMiddleware maps the middleware's verified email to an account.
func TestSignInMiddleware(t *testing.T) {
	f := newFixture(t, func(o *Options) {
		o.Members = map[string]string{"ann@example.com": "ann"}
		o.SignInTitle = "corp"
		o.SignIn = func(w http.ResponseWriter, r *http.Request) (string, bool) {
			email := r.Header.Get("Test-Email")
			if email == "" {
				http.Redirect(w, r, "https://idp.example/authorize", http.StatusFound)
				return "", false
			}
			return email, true
		}
	})
	if b := body(t, f.do(t, "GET", "/", nil)); !strings.Contains(b, `href="/signin"`) || !strings.Contains(b, "Sign in with corp") {
		t.Errorf("sign-in page lacks the middleware's button")
	}
	if res := f.do(t, "GET", "/signin", nil); res.StatusCode != http.StatusFound || res.Header.Get("Location") != "https://idp.example/authorize" {
		t.Errorf("middleware's redirect not passed on: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	res := f.do(t, "GET", "/oauth2/exchange", nil, "Test-Email", "Ann@Example.com")
	if res.StatusCode != http.StatusSeeOther || len(res.Cookies()) != 1 {
		t.Fatalf("listed email: %d, want 303 with a session", res.StatusCode)
	}
	if page, _ := f.home(t, CookieName+"="+res.Cookies()[0].Value); !strings.Contains(page, "Signed in as <strong>ann</strong>") {
		t.Errorf("not signed in as ann")
	}
	res = f.do(t, "GET", "/signin", nil, "Test-Email", "eve@example.com")
	if b := body(t, res); res.StatusCode != http.StatusForbidden || !strings.Contains(b, "belongs to no account") || len(res.Cookies()) != 0 {
		t.Errorf("unlisted email: %d, want 403 and no session", res.StatusCode)
	}
}

// TestLogout ends the session on the server, not only in the browser, and
// expires the sign-in middleware's cookies on the dashboard host.
func TestLogout(t *testing.T) {
	f := newFixture(t)
	ann := f.signIn(t, "ann")
	_, tok := f.home(t, ann)
	res, _ := f.post(t, ann+"; __Host-sshgress_oauth=sealed; other=1", "/logout", url.Values{"csrf": {tok}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", res.StatusCode)
	}
	expired := map[string]bool{}
	for _, c := range res.Cookies() {
		if c.MaxAge < 0 && c.Path == "/" && c.Secure {
			expired[c.Name] = true
		}
	}
	for _, name := range []string{CookieName, "__Host-sshgress_oauth", "other"} {
		if !expired[name] {
			t.Errorf("logout does not expire cookie %s: %q", name, res.Header.Values("Set-Cookie"))
		}
	}
	if b := body(t, f.do(t, "GET", "/", nil, "Cookie", ann)); !strings.Contains(b, "Sign in to") {
		t.Errorf("old cookie still signed in after logout")
	}
}

// TestAPIToken: a user mints a management API token for their own account;
// it is shown once, and a post without the CSRF token mints none.
func TestAPIToken(t *testing.T) {
	f := newFixture(t)
	ann := f.signIn(t, "ann")
	page, tok := f.home(t, ann)
	if !strings.Contains(page, `action="/tokens"`) {
		t.Fatalf("home page has no token form")
	}
	if res, _ := f.post(t, ann, "/tokens", url.Values{"csrf": {"wrong"}}); res.StatusCode != http.StatusForbidden || f.mem.tokens != 0 {
		t.Errorf("token post without the CSRF token: %d, %d tokens minted; want 403 and none", res.StatusCode, f.mem.tokens)
	}
	res, b := f.post(t, ann, "/tokens", url.Values{"csrf": {tok}})
	if res.StatusCode != http.StatusCreated || !strings.Contains(b, `<code id="token">sgt_token-1</code>`) {
		t.Errorf("create token: %d\n%s", res.StatusCode, b)
	}
	if again, _ := f.home(t, ann); strings.Contains(again, "sgt_token-1") {
		t.Errorf("the token is shown a second time")
	}
}
