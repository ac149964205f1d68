package oauth

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/sshgress/sshgress/sdk"
	"github.com/sshgress/sshgress/sdk/plugintest"
)

// testKey is the session key of every test edge.
var testKey = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

// testEdge plays the sshgress edge in front of the plugin: an HTTPS server
// for *.localhost that asks the plugin about every request (tunnel hosts
// by their tunnel, auth.localhost with TunnelID "") and, on continue,
// answers as the upstream with what it received as JSON.
type testEdge struct {
	t       *testing.T
	srv     *httptest.Server
	section map[string]any

	mu      sync.Mutex
	h       *plugintest.Harness
	tunnels map[string]sdk.Tunnel // by host
}

// upstreamView is what the test upstream saw.
type upstreamView struct {
	Host   string
	Path   string
	Header http.Header
}

func newTestEdge(t *testing.T, providers map[string]any) *testEdge {
	t.Helper()
	e := &testEdge{t: t, tunnels: map[string]sdk.Tunnel{}}
	e.srv = httptest.NewUnstartedServer(e)
	e.srv.StartTLS()
	t.Cleanup(e.srv.Close)
	e.section = map[string]any{
		"auth_host":   "auth.localhost",
		"session_key": testKey,
		"providers":   providers,
	}
	e.restart()
	return e
}

// restart replaces the plugin with a fresh instance with the same config
// and reopens the tunnels, as the edge's supervisor does after a crash.
func (e *testEdge) restart() {
	e.t.Helper()
	h := plugintest.Start(e.t, newPlugin())
	if err := h.Configure(e.section); err != nil {
		e.t.Fatalf("Configure: %v", err)
	}
	e.mu.Lock()
	old := e.h
	e.h = h
	tunnels := e.tunnels
	e.mu.Unlock()
	if old != nil {
		old.Close()
	}
	for _, tun := range tunnels {
		if _, err := h.OpenTunnel(tun); err != nil {
			e.t.Fatalf("reopen %s: %v", tun.ID, err)
		}
	}
}

func (e *testEdge) port() string {
	_, port, _ := net.SplitHostPort(e.srv.Listener.Addr().String())
	return port
}

// open opens tunnel id at id.localhost with the given flags.
func (e *testEdge) open(id string, values map[string][]string) (sdk.OpenResult, error) {
	tun := sdk.Tunnel{
		ID: id, Account: "test", Command: "http", Host: id + ".localhost",
		URL: "https://" + id + ".localhost:" + e.port(), RemotePort: 443, Values: values,
	}
	e.mu.Lock()
	h := e.h
	e.mu.Unlock()
	res, err := h.OpenTunnel(tun)
	if err == nil {
		e.mu.Lock()
		e.tunnels[tun.Host] = tun
		e.mu.Unlock()
	}
	return res, err
}

func (e *testEdge) mustOpen(id string, values map[string][]string) {
	e.t.Helper()
	if _, err := e.open(id, values); err != nil {
		e.t.Fatalf("open %s: %v", id, err)
	}
}

func (e *testEdge) url(host, path string) string {
	return "https://" + host + ":" + e.port() + path
}

func (e *testEdge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	e.mu.Lock()
	h, tun := e.h, e.tunnels[host]
	e.mu.Unlock()
	if tun.ID == "" && !strings.HasPrefix(r.URL.EscapedPath(), PathPrefix) {
		http.Error(w, "no tunnel", http.StatusNotFound)
		return
	}
	req := &sdk.Request{
		TunnelID:   tun.ID,
		Method:     r.Method,
		Host:       host,
		Path:       r.URL.EscapedPath(),
		RawQuery:   r.URL.RawQuery,
		Header:     r.Header.Clone(),
		ClientAddr: netip.MustParseAddrPort("127.0.0.1:1"),
		TLS:        &sdk.TLSFacts{ServerName: host, Version: tls.VersionTLS13},
	}
	v, err := h.Check(req)
	if err != nil {
		http.Error(w, "503 plugin failed: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	if resp := v.Respond; resp != nil {
		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(resp.Status)
		w.Write(resp.Body)
		return
	}
	for _, name := range v.Continue.RemoveHeaders {
		r.Header.Del(name)
		delete(r.Header, name)
	}
	for name, vs := range v.Continue.SetHeaders {
		r.Header[http.CanonicalHeaderKey(name)] = vs
	}
	json.NewEncoder(w).Encode(upstreamView{Host: host, Path: r.URL.RequestURI(), Header: r.Header})
}

// browser is an HTTP client with a cookie jar that reaches *.localhost at
// the test edge and everything else directly, recording every URL it
// visits.
type browser struct {
	*http.Client
	mu      sync.Mutex
	visited []*url.URL
}

func newBrowser(t *testing.T, e *testEdge) *browser {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	tr := e.srv.Client().Transport.(*http.Transport).Clone()
	edgeAddr := e.srv.Listener.Addr().String()
	var d net.Dialer
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if h, _, _ := net.SplitHostPort(addr); strings.HasSuffix(h, ".localhost") {
			addr = edgeAddr
		}
		return d.DialContext(ctx, network, addr)
	}
	tr.TLSClientConfig.ServerName = "example.com" // httptest's certificate
	b := &browser{}
	b.Client = &http.Client{Jar: jar, Transport: tr, Timeout: 10 * time.Second}
	b.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		b.mu.Lock()
		b.visited = append(b.visited, req.URL)
		b.mu.Unlock()
		if len(via) > 10 {
			return http.ErrUseLastResponse
		}
		return nil
	}
	t.Cleanup(tr.CloseIdleConnections)
	return b
}

// get loads a page the way a browser does, returning status, body and the
// final URL.
func (b *browser) get(t *testing.T, target string, header ...string) (int, string, *url.URL) {
	t.Helper()
	req, err := http.NewRequest("GET", target, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	b.mu.Lock()
	b.visited = nil
	b.mu.Unlock()
	resp, err := b.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Request.URL
}

func (b *browser) visitedHost(host string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, u := range b.visited {
		if u.Hostname() == host {
			return true
		}
	}
	return false
}

func (b *browser) visitedPath(path string) *url.URL {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, u := range b.visited {
		if u.Path == path {
			return u
		}
	}
	return nil
}

// startMockOIDC runs an OIDC provider for the test; delay slows its token
// endpoint.
func startMockOIDC(t *testing.T, delay time.Duration) *mockoidc.MockOIDC {
	t.Helper()
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if delay > 0 {
		m.AddMiddleware(func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == mockoidc.TokenEndpoint {
					time.Sleep(delay)
				}
				next.ServeHTTP(w, r)
			})
		})
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Shutdown() })
	return m
}

func mockProvider(m *mockoidc.MockOIDC) map[string]any {
	return map[string]any{"corp": map[string]any{
		"client_id": m.ClientID, "client_secret": m.ClientSecret, "issuer": m.Issuer(),
	}}
}

func decodeUpstream(t *testing.T, body string) upstreamView {
	t.Helper()
	var v upstreamView
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("not an upstream answer: %v\n%s", err, body)
	}
	return v
}

func queueUser(m *mockoidc.MockOIDC, email string, verified bool) {
	m.QueueUser(&mockoidc.MockUser{Subject: "sub-" + email, Email: email, EmailVerified: verified, PreferredUsername: "Ann Example"})
}

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
