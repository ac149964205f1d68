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
