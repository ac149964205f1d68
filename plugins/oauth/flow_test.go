package oauth

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestFlowOIDC(t *testing.T) {
	m := startMockOIDC(t, 0)
	e := newTestEdge(t, mockProvider(m))
	e.mustOpen("app", map[string][]string{"oauth": {"corp"}, "oauth-allow-domain": {"example.com"}})
	e.mustOpen("other", map[string][]string{"oauth": {"corp"}})
	e.mustOpen("strict", map[string][]string{"oauth": {"corp"}, "oauth-allow-email": {"bob@example.com"}})
	b := newBrowser(t, e)

	// A cookie of the upstream's own, which must reach it.
	appURL, _ := url.Parse(e.url("app.localhost", "/"))
	b.Jar.SetCookies(appURL, []*http.Cookie{{Name: "theme", Value: "dark"}})

	t.Run("not a browser gets 401", func(t *testing.T) {
		resp, err := b.Get(e.url("app.localhost", "/api"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("status = %d, want 401", resp.StatusCode)
		}
	})

	t.Run("sign in", func(t *testing.T) {
		queueUser(m, "ann@example.com", true)
		status, body, final := b.get(t, e.url("app.localhost", "/page?x=1"),
			"X-Sshgress-User-Email", "forged@evil.example", "X_Sshgress_User_Id", "forged")
		if status != http.StatusOK {
			t.Fatalf("status = %d, want 200\n%s", status, body)
		}
		if !b.visitedHost("127.0.0.1") || b.visitedPath(PathCallback) == nil || b.visitedPath(PathExchange) == nil {
			t.Errorf("visited %v, want the provider, the callback and the exchange", b.visited)
		}
		if final.Host != "app.localhost:"+e.port() || final.RequestURI() != "/page?x=1" {
			t.Errorf("final URL = %s, want app.localhost /page?x=1", final)
		}
		up := decodeUpstream(t, body)
		if got := up.Header.Get(HeaderEmail); got != "ann@example.com" {
			t.Errorf("upstream %s = %q, want ann@example.com", HeaderEmail, got)
		}
		if got := up.Header.Get(HeaderID); got != "sub-ann@example.com" {
			t.Errorf("upstream %s = %q, want sub-ann@example.com", HeaderID, got)
		}
		if got := up.Header.Get(HeaderName); got != "Ann Example" {
			t.Errorf("upstream %s = %q, want Ann Example", HeaderName, got)
		}
		for name := range up.Header {
			if strings.EqualFold(strings.ReplaceAll(name, "_", "-"), "x-sshgress-user-id") && name != HeaderID {
				t.Errorf("upstream got the visitor's %s", name)
			}
		}
		if got := up.Header.Get("Cookie"); got != "theme=dark" {
			t.Errorf("upstream Cookie = %q, want only theme=dark", got)
		}
	})

	t.Run("signed in: no provider round trip", func(t *testing.T) {
		status, body, _ := b.get(t, e.url("app.localhost", "/again"))
		if status != http.StatusOK || b.visitedHost("127.0.0.1") {
			t.Fatalf("status %d, visited %v; want 200 without the provider", status, b.visited)
		}
		if up := decodeUpstream(t, body); up.Header.Get(HeaderEmail) != "ann@example.com" {
			t.Errorf("upstream email = %q", up.Header.Get(HeaderEmail))
		}
	})

	t.Run("replayed ticket", func(t *testing.T) {
		queueUser(m, "ann@example.com", true)
		b2 := newBrowser(t, e)
		if status, _, _ := b2.get(t, e.url("app.localhost", "/")); status != http.StatusOK {
			t.Fatalf("sign-in status = %d", status)
		}
		ex := b2.visitedPath(PathExchange)
		if ex == nil {
			t.Fatal("no exchange visited")
		}
		// Without the session cookie, so only the ticket could sign in.
		b3 := newBrowser(t, e)
		b2cookies := b2.Jar.Cookies(ex)
		b3.Jar.SetCookies(ex, b2cookies)
		status, body, _ := b3.get(t, ex.String())
		if status != http.StatusBadRequest || !strings.Contains(body, "used already") {
			t.Errorf("replay: status %d, want 400 naming a used link\n%s", status, body)
		}
	})

	t.Run("ticket in another browser", func(t *testing.T) {
		queueUser(m, "ann@example.com", true)
		b2 := newBrowser(t, e)
		b2.CheckRedirect = func(req *http.Request, via []*http.Request) error {
			if req.URL.Path == PathExchange {
				return http.ErrUseLastResponse
			}
			return nil
		}
		req, _ := http.NewRequest("GET", e.url("app.localhost", "/"), nil)
		req.Header.Set("Accept", "text/html")
		resp, err := b2.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if !strings.Contains(loc, PathExchange+"?ticket=") {
			t.Fatalf("Location = %q, want the exchange", loc)
		}
		victim := newBrowser(t, e)
		status, _, _ := victim.get(t, loc)
		if status != http.StatusBadRequest {
			t.Errorf("ticket without its login cookie: status %d, want 400", status)
		}
	})

	t.Run("tunnel A's cookie on tunnel B", func(t *testing.T) {
		var session string
		for _, c := range b.Jar.Cookies(appURL) {
			if c.Name == SessionCookie {
				session = c.Value
			}
		}
		if session == "" {
			t.Fatal("no session cookie for app")
		}
		req, _ := http.NewRequest("GET", e.url("other.localhost", "/"), nil)
		req.Header.Set("Cookie", SessionCookie+"="+session)
		resp, err := newBrowser(t, e).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("status = %d, want 401", resp.StatusCode)
		}
	})

	t.Run("denied email", func(t *testing.T) {
		queueUser(m, "ann@example.com", true)
		status, body, _ := b.get(t, e.url("strict.localhost", "/"))
		if status != http.StatusForbidden || !strings.Contains(body, "ann@example.com") || !strings.Contains(body, "another account") {
			t.Errorf("status %d, want 403 naming ann@example.com and how to switch\n%s", status, body)
		}
		if !strings.Contains(body, PathLogin+"?switch=1") {
			t.Errorf("403 page has no switch-account link\n%s", body)
		}
	})

	t.Run("unverified email", func(t *testing.T) {
		queueUser(m, "eve@example.com", false)
		status, body, _ := newBrowser(t, e).get(t, e.url("app.localhost", "/"))
		if status != http.StatusForbidden || !strings.Contains(body, "eve@example.com") || !strings.Contains(body, "not verified") {
			t.Errorf("status %d, want 403 for an unverified email\n%s", status, body)
		}
	})

	t.Run("open redirects", func(t *testing.T) {
		for _, rd := range []string{"//evil.example", `/\evil.example`, "https://evil.example/", "/\t/evil.example"} {
			queueUser(m, "ann@example.com", true)
			b2 := newBrowser(t, e)
			status, _, final := b2.get(t, e.url("app.localhost", PathLogin+"?rd="+url.QueryEscape(rd)))
			if status != http.StatusOK || final.Hostname() != "app.localhost" || final.Path != "/" {
				t.Errorf("login with rd=%q ended at %s (%d), want app.localhost/", rd, final, status)
			}
			_, _, final = b2.get(t, e.url("app.localhost", PathLogout+"?rd="+url.QueryEscape(rd)))
			if final.Hostname() != "app.localhost" {
				t.Errorf("logout with rd=%q ended at %s", rd, final)
			}
		}
	})

	t.Run("plugin restarted", func(t *testing.T) {
		e.restart()
		status, body, _ := b.get(t, e.url("app.localhost", "/after-restart"))
		if status != http.StatusOK || b.visitedHost("127.0.0.1") {
			t.Fatalf("after restart: status %d, visited %v; want 200 without signing in again", status, b.visited)
		}
		if up := decodeUpstream(t, body); up.Header.Get(HeaderEmail) != "ann@example.com" {
			t.Errorf("upstream email = %q", up.Header.Get(HeaderEmail))
		}
	})

	t.Run("logout", func(t *testing.T) {
		status, body, _ := b.get(t, e.url("app.localhost", PathLogout))
		if status != http.StatusOK || !strings.Contains(body, "signed out") {
			t.Errorf("logout: status %d\n%s", status, body)
		}
		resp, err := b.Get(e.url("app.localhost", "/"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("after logout: status %d, want 401", resp.StatusCode)
		}
	})
}

func TestFlowWrongState(t *testing.T) {
	m := startMockOIDC(t, 0)
	e := newTestEdge(t, mockProvider(m))
	e.mustOpen("app", map[string][]string{"oauth": {"corp"}})
	b := newBrowser(t, e)
	b.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Path == PathCallback {
			return http.ErrUseLastResponse
		}
		return nil
	}
	req, _ := http.NewRequest("GET", e.url("app.localhost", "/"), nil)
	req.Header.Set("Accept", "text/html")
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cb, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || cb.Path != PathCallback {
		t.Fatalf("Location = %q, want the callback", resp.Header.Get("Location"))
	}
	q := cb.Query()
	tests := []struct {
		name  string
		state string
	}{
		{"other state", randToken(16)},
		{"no state", ""},
		{"malformed state", "../../x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := *cb
			q2 := url.Values{"code": {q.Get("code")}, "state": {tt.state}}
			bad.RawQuery = q2.Encode()
			status, body, _ := newBrowser(t, e).get(t, bad.String())
			if status != http.StatusBadRequest {
				t.Errorf("status = %d, want 400\n%s", status, body)
			}
			status, _, _ = b.get(t, bad.String())
			if status != http.StatusBadRequest {
				t.Errorf("with the state cookie of another sign-in: status = %d, want 400", status)
			}
		})
	}
	// The genuine callback in another browser (no state cookie) fails too.
	if status, _, _ := newBrowser(t, e).get(t, cb.String()); status != http.StatusBadRequest {
		t.Errorf("callback without the state cookie: status = %d, want 400", status)
	}
	// The genuine callback still works in the browser that started it.
	b.CheckRedirect = nil
	if status, body, _ := b.get(t, cb.String()); status != http.StatusOK {
		t.Errorf("genuine callback: status = %d\n%s", status, body)
	}
}

// TestFlowSlowProvider: a token endpoint slower than the edge's deadline
// gets a page that reloads instead of a 503, and the reload completes.
func TestFlowSlowProvider(t *testing.T) {
	m := startMockOIDC(t, 600*time.Millisecond)
	e := newTestEdge(t, mockProvider(m))
	e.h.CallTimeout = 400 * time.Millisecond
	e.mustOpen("app", map[string][]string{"oauth": {"corp"}})
	b := newBrowser(t, e)
	status, body, final := b.get(t, e.url("app.localhost", "/slow"))
	if status != http.StatusOK || final.Path != PathCallback || !strings.Contains(body, `http-equiv="refresh"`) {
		t.Fatalf("status %d at %s, want the reloading wait page\n%s", status, final, body)
	}
	time.Sleep(400 * time.Millisecond)
	status, body, final = b.get(t, final.String())
	if status != http.StatusOK || final.Path != "/slow" {
		t.Fatalf("after reload: status %d at %s\n%s", status, final, body)
	}
	if up := decodeUpstream(t, body); up.Header.Get(HeaderEmail) == "" {
		t.Error("no identity upstream")
	}
}

// fakeGitHub serves GitHub's OAuth endpoints and the two API calls.
func fakeGitHub(t *testing.T, emailsFile string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var tokens atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/login/oauth/authorize", func(w http.ResponseWriter, r *http.Request) {
		u, _ := url.Parse(r.FormValue("redirect_uri"))
		if r.FormValue("code_challenge_method") != "S256" || r.FormValue("scope") != "read:user user:email" {
			http.Error(w, "bad authorize request", 400)
			return
		}
		u.RawQuery = url.Values{"code": {"gh-code"}, "state": {r.FormValue("state")}}.Encode()
		http.Redirect(w, r, u.String(), http.StatusFound)
	})
	mux.HandleFunc("/login/oauth/access_token", func(w http.ResponseWriter, r *http.Request) {
		if r.FormValue("code") != "gh-code" || r.FormValue("code_verifier") == "" || r.FormValue("client_secret") != "gh-secret" {
			http.Error(w, `{"error":"bad_verification_code"}`, 400)
			return
		}
		tokens.Add(1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"gho_test","token_type":"bearer","scope":"read:user,user:email"}`)
	})
	serve := func(file string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer gho_test" {
				http.Error(w, "unauthorized", 401)
				return
			}
			http.ServeFile(w, r, "testdata/"+file)
		}
	}
	mux.HandleFunc("/api/user", serve("github_user.json"))
	mux.HandleFunc("/api/user/emails", serve(emailsFile))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, &tokens
}

func TestFlowGitHub(t *testing.T) {
	tests := []struct {
		name       string
		emails     string
		wantStatus int
		wantEmail  string
	}{
		{"primary verified", "github_user_emails.json", 200, "octocat@github.com"},
		{"primary unverified", "github_user_emails_unverified.json", 403, "new@example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gh, tokens := fakeGitHub(t, tt.emails)
			e := newTestEdge(t, map[string]any{"github": map[string]any{
				"client_id": "gh-id", "client_secret": "gh-secret",
				"auth_url": gh.URL + "/login/oauth/authorize", "token_url": gh.URL + "/login/oauth/access_token", "api_url": gh.URL + "/api",
			}})
			e.mustOpen("app", map[string][]string{"oauth": {"github"}})
			status, body, _ := newBrowser(t, e).get(t, e.url("app.localhost", "/"))
			if status != tt.wantStatus || tokens.Load() != 1 {
				t.Fatalf("status %d after %d token requests, want %d after 1\n%s", status, tokens.Load(), tt.wantStatus, body)
			}
			if status == 200 {
				up := decodeUpstream(t, body)
				if up.Header.Get(HeaderEmail) != tt.wantEmail || up.Header.Get(HeaderID) != "583231" || up.Header.Get(HeaderName) != "The Octocat" {
					t.Errorf("upstream identity = %q %q %q", up.Header.Get(HeaderEmail), up.Header.Get(HeaderID), up.Header.Get(HeaderName))
				}
			} else if !strings.Contains(body, tt.wantEmail) {
				t.Errorf("403 page does not name %s\n%s", tt.wantEmail, body)
			}
		})
	}
}
