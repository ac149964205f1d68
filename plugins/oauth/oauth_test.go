package oauth

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/sshgress/sshgress/sdk"
	"github.com/sshgress/sshgress/sdk/plugintest"
)

func TestMain(m *testing.M) {
	// No goroutine is ignored: every test closes its provider servers
	// (httptest closes their idle connections, which ends the provider
	// client's keep-alive loops) and its harness, so a goroutine still
	// blocked on a socket at the end is a leak.
	goleak.VerifyTestMain(m)
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMapClaims(t *testing.T) {
	const msTenant = "9122040d-6c67-4c5b-b112-36a304b66dad"
	tests := []struct {
		file   string
		kind   kind
		tenant string
		want   identity
	}{
		{"google_id_token_claims.json", kindGoogle, "", identity{Subject: "10769150350006150715113082367", Email: "jsmith@example.com", EmailVerified: true, Name: "John Smith"}},
		{"gitlab_id_token_claims.json", kindGitLab, "", identity{Subject: "1234567", Email: "jane@example.org", EmailVerified: true, Name: "Jane Doe"}},
		{"microsoft_id_token_claims.json", kindMicrosoft, "common", identity{Subject: "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ", Email: "AbeLi@microsoft.com", EmailVerified: true, Name: "Abe Lincoln"}},
		{"microsoft_id_token_claims.json", kindMicrosoft, msTenant, identity{Subject: "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ", Email: "AbeLi@microsoft.com", EmailVerified: true, Name: "Abe Lincoln"}},
		// Another tenant's admin can set any email: without xms_edov on a
		// multi-tenant app it is not taken as verified (nOAuth).
		{"microsoft_unverified_id_token_claims.json", kindMicrosoft, "common", identity{Subject: "Qk9fcl1tYW5kb20tc3ViamVjdC1mb3ItZXZl", Email: "ceo@example.com", EmailVerified: false, Name: "Eve"}},
		// A generic OIDC provider without email_verified is not trusted.
		{"microsoft_id_token_claims.json", kindOIDC, "", identity{Subject: "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ", Email: "AbeLi@microsoft.com", EmailVerified: false, Name: "Abe Lincoln"}},
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+tt.tenant, func(t *testing.T) {
			var claims map[string]any
			if err := json.Unmarshal(readTestdata(t, tt.file), &claims); err != nil {
				t.Fatal(err)
			}
			got, err := mapClaims(tt.kind, tt.tenant, claims)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	if _, err := mapClaims(kindGoogle, "", map[string]any{"email": "a@b.c"}); err == nil {
		t.Error("claims without sub: got no error")
	}
	got, _ := mapClaims(kindGoogle, "", map[string]any{"sub": "1", "email": "a@b.c", "email_verified": "true"})
	if !got.EmailVerified {
		t.Error(`email_verified "true" (a string) not taken as true`)
	}
}

func TestMapGitHub(t *testing.T) {
	tests := []struct {
		emails string
		want   identity
	}{
		{"github_user_emails.json", identity{Subject: "583231", Email: "octocat@github.com", EmailVerified: true, Name: "The Octocat"}},
		{"github_user_emails_unverified.json", identity{Subject: "583231", Email: "new@example.com", EmailVerified: false, Name: "The Octocat"}},
	}
	for _, tt := range tests {
		t.Run(tt.emails, func(t *testing.T) {
			got, err := mapGitHub(readTestdata(t, "github_user.json"), readTestdata(t, tt.emails))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	if _, err := mapGitHub([]byte(`{"login":"x"}`), []byte(`[]`)); err == nil {
		t.Error("user without id: got no error")
	}
}

func TestManifest(t *testing.T) {
	h := plugintest.Start(t, New())
	m := h.Manifest()
	if m.Name != Name || !m.HTTPMiddleware || len(m.ReservedPaths) != 1 || m.ReservedPaths[0] != "/oauth2/" {
		t.Errorf("manifest = %+v, want oauth, middleware, reserving /oauth2/", m)
	}
	names := []string{}
	for _, f := range m.Flags {
		names = append(names, f.Name)
		if !f.AppliesTo("http") || f.AppliesTo("tcp") {
			t.Errorf("flag %s applies to %v, want http only", f.Name, f.Commands)
		}
	}
	if got := strings.Join(names, ","); got != "oauth,oauth-allow-email,oauth-allow-domain,oauth-scope" {
		t.Errorf("flags = %s", got)
	}
}

func TestConfigure(t *testing.T) {
	good := map[string]any{"client_id": "id", "client_secret": "secret"}
	tests := []struct {
		name    string
		section map[string]any
		want    string // substring of the error; "" means success
	}{
		{"empty", map[string]any{}, ""},
		{"built-ins", map[string]any{"providers": map[string]any{"google": good, "github": good, "gitlab": good, "microsoft": good}}, ""},
		{"unknown key", map[string]any{"client_id": "x"}, `unknown setting "client_id"`},
		{"unknown provider key", map[string]any{"providers": map[string]any{"google": map[string]any{"client_id": "x", "client_secret": "y", "secret": "z"}}}, "providers.google.secret: unknown setting"},
		{"no secret", map[string]any{"providers": map[string]any{"google": map[string]any{"client_id": "x"}}}, "providers.google: client_secret is required"},
		{"oidc without issuer", map[string]any{"providers": map[string]any{"okta": good}}, "providers.okta: issuer is required"},
		{"http issuer", map[string]any{"providers": map[string]any{"okta": map[string]any{"client_id": "x", "client_secret": "y", "issuer": "http://idp.example.com"}}}, "must use https"},
		{"github issuer", map[string]any{"providers": map[string]any{"github": map[string]any{"client_id": "x", "client_secret": "y", "issuer": "https://github.com"}}}, "takes no issuer"},
		{"bad tenant", map[string]any{"providers": map[string]any{"microsoft": map[string]any{"client_id": "x", "client_secret": "y", "tenant": "contoso.com"}}}, "directory (tenant) ID"},
		{"bad key", map[string]any{"session_key": "c2hvcnQ="}, "session_key: the key is 5 bytes, want 32"},
		{"bad auth host", map[string]any{"auth_host": "https://auth.example.com"}, "auth_host"},
		{"bad max age", map[string]any{"session_max_age": "soon"}, "session_max_age"},
		{"idle over max", map[string]any{"session_max_age": "1h", "session_idle_timeout": "2h"}, "session_idle_timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := newPlugin().Configure(t.Context(), sdk.Config{Section: tt.section, BaseDomain: "example.com", DataDir: t.TempDir()})
			if tt.want == "" {
				if err != nil {
					t.Errorf("got %v, want success", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "secret") && strings.Contains(err.Error(), `"y"`) {
				t.Errorf("error %q echoes a secret", err)
			}
		})
	}
}

func TestSessionKeyGenerated(t *testing.T) {
	dir := t.TempDir()
	k1, err := loadSessionKey("", dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, SessionKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v; want mode 0600", err, fi.Mode())
	}
	k2, err := loadSessionKey("", dir)
	if err != nil || string(k1) != string(k2) || len(k1) != 32 {
		t.Errorf("second load: %v, same key %v; want the same 32-byte key", err, string(k1) == string(k2))
	}
	if _, err := loadSessionKey("", ""); err == nil {
		t.Error("no key and no data dir: got no error")
	}
}

func TestOpenTunnel(t *testing.T) {
	h := plugintest.Start(t, New())
	provider := map[string]any{"client_id": "id", "client_secret": "secret"}
	if err := h.Configure(map[string]any{"providers": map[string]any{"google": provider, "github": provider}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		values   map[string][]string
		host     string // default "<id>.localhost" over https
		url      string
		wantErr  string
		wantProt string
	}{
		{"domain", map[string][]string{"oauth": {"google"}, "oauth-allow-domain": {"example.com"}}, "", "", "", "OAuth (google) — allowed: *@example.com"},
		{"emails and domains", map[string][]string{"oauth": {"github"}, "oauth-allow-email": {"Ann@Example.org"}, "oauth-allow-domain": {"@example.com"}}, "", "", "", "OAuth (github) — allowed: *@example.com, ann@example.org"},
		{"anyone", map[string][]string{"oauth": {"google"}}, "", "", "", "OAuth (google) — any signed-in user with a verified email"},
		{"many", map[string][]string{"oauth": {"google"}, "oauth-allow-email": {"a@x.io", "b@x.io", "c@x.io", "d@x.io", "e@x.io"}}, "", "", "", "OAuth (google) — allowed: a@x.io, b@x.io, c@x.io, d@x.io and 1 more"},
		{"unconfigured", map[string][]string{"oauth": {"okta"}}, "", "", `--oauth: provider "okta" is not configured on this server; configured: github, google`, ""},
		{"allow without oauth", map[string][]string{"oauth-allow-email": {"a@b.c"}}, "", "", "--oauth-allow-email needs --oauth PROVIDER", ""},
		{"bad email", map[string][]string{"oauth": {"google"}, "oauth-allow-email": {"not-an-email"}}, "", "", `--oauth-allow-email "not-an-email" is not an email address`, ""},
		{"bad domain", map[string][]string{"oauth": {"google"}, "oauth-allow-domain": {"localhost"}}, "", "", `--oauth-allow-domain "localhost" is not a domain like example.com`, ""},
		{"bad scope", map[string][]string{"oauth": {"google"}, "oauth-scope": {"a b"}}, "", "", `--oauth-scope "a b" is not a valid scope`, ""},
		{"plain http", map[string][]string{"oauth": {"google"}}, "app.example.com", "http://app.example.com", "--oauth needs HTTPS", ""},
		{"auth host", map[string][]string{"oauth": {"google"}}, "auth.localhost", "https://auth.localhost", "is the server's sign-in host", ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tun := sdk.Tunnel{ID: "t" + string(rune('a'+i)), Command: "http", Values: tt.values}
			tun.Host, tun.URL = tun.ID+".localhost", "https://"+tun.ID+".localhost"
			if tt.host != "" {
				tun.Host, tun.URL = tt.host, tt.url
			}
			res, err := h.OpenTunnel(tun)
			if tt.wantErr != "" {
				msg, ok := sdk.AsUserError(err)
				if !ok || !strings.Contains(msg, tt.wantErr) {
					t.Errorf("got %v, want a user error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Protection != tt.wantProt {
				t.Errorf("protection = %q, want %q", res.Protection, tt.wantProt)
			}
		})
	}
}

func TestOpenTunnelNoProviders(t *testing.T) {
	h := plugintest.Start(t, New())
	if err := h.Configure(nil); err != nil {
		t.Fatal(err)
	}
	_, err := h.Open("t1", map[string][]string{"oauth": {"google"}})
	if msg, _ := sdk.AsUserError(err); !strings.Contains(msg, "no OAuth providers configured") {
		t.Errorf("got %v, want a user error saying none are configured", err)
	}
}

// TestCheckUnit drives Check directly for the cases a browser cannot
// produce: unsafe paths, the auth host's 404s, closed tunnels.
func TestCheckUnit(t *testing.T) {
	p := newPlugin()
	h := plugintest.Start(t, p)
	if err := h.Configure(map[string]any{"session_key": testKey, "providers": map[string]any{"google": map[string]any{"client_id": "id", "client_secret": "s"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Open("t1", map[string][]string{"oauth": {"google"}}); err != nil {
		t.Fatal(err)
	}
	s, _ := p.settings()

	t.Run("return path of the login redirect", func(t *testing.T) {
		for path, want := range map[string]string{
			"/app":                 "/app",
			"//evil.example":       "/",
			`/\evil.example`:       "/",
			"https://evil.example": "/",
			"/ok?next=//x":         "/ok?next=//x",
		} {
			req := plugintest.NewRequest("t1", "GET", "https://t1.localhost/")
			req.Path = path
			if i := strings.IndexByte(path, '?'); i >= 0 {
				req.Path, req.RawQuery = path[:i], path[i+1:]
			}
			req.Header.Set("Accept", "text/html")
			v, err := h.Check(req)
			if err != nil || v.Respond == nil || v.Respond.Status != http.StatusFound {
				t.Fatalf("%s: got %+v, %v; want 302", path, v, err)
			}
			loc, _ := url.Parse(http.Header(v.Respond.Header).Get("Location"))
			if loc.Host != "auth.localhost" || loc.Path != PathStart {
				t.Fatalf("%s: Location %s, want the auth host", path, loc)
			}
			var sr startRequest
			if err := s.seal.unseal(purposeStart, "", loc.Query().Get("req"), &sr); err != nil {
				t.Fatal(err)
			}
			if sr.Return != want || sr.Origin != "https://t1.localhost" || sr.Host != "t1.localhost" {
				t.Errorf("%s: start request %+v, want return %q", path, sr, want)
			}
			if !strings.Contains(strings.Join(v.Respond.Header["Set-Cookie"], "\n"), LoginCookie+"=") {
				t.Errorf("%s: no login cookie set", path)
			}
		}
	})

	t.Run("auth host", func(t *testing.T) {
		for _, target := range []string{"https://auth.localhost/oauth2/other", "https://t1.localhost/oauth2/callback", "https://elsewhere.localhost/oauth2/start"} {
			v, err := h.Check(plugintest.NewRequest("", "GET", target))
			if err != nil || v.Respond == nil || v.Respond.Status != http.StatusNotFound {
				t.Errorf("%s: got %+v, %v; want 404", target, v, err)
			}
		}
		v, err := h.Check(plugintest.NewRequest("", "GET", "https://auth.localhost/oauth2/start?req=forged"))
		if err != nil || v.Respond == nil || v.Respond.Status != http.StatusBadRequest {
			t.Errorf("forged start request: got %+v, %v; want 400", v, err)
		}
	})

	t.Run("closed tunnel fails closed", func(t *testing.T) {
		if _, err := h.Check(plugintest.NewRequest("nope", "GET", "https://nope.localhost/")); err == nil {
			t.Error("unknown tunnel: got no error")
		}
	})
}

func TestSafeReturnPath(t *testing.T) {
	tests := map[string]string{
		"/":                             "/",
		"/a/b?c=d#e":                    "/a/b?c=d#e",
		"":                              "/",
		"//evil.example":                "/",
		`/\evil.example`:                "/",
		"https://evil.example":          "/",
		"javascript:alert(1)":           "/",
		"/\t/evil.example":              "/",
		"/\n/evil.example":              "/",
		"/ /evil.example":               "/",
		"/a\\b":                         "/",
		"evil.example":                  "/",
		"/" + strings.Repeat("a", 3000): "/",
		"/%2F%2Fevil.example":           "/%2F%2Fevil.example",
	}
	for in, want := range tests {
		if got := SafeReturnPath(in); got != want {
			t.Errorf("SafeReturnPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzSafeReturnPath(f *testing.F) {
	for _, s := range []string{"/", "//x", `/\x`, "https://x", "/\t/x", "/a?b", "/%2F/x", "/\u3000/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := SafeReturnPath(s)
		if got != "/" && got != s {
			t.Fatalf("SafeReturnPath(%q) = %q: neither the input nor /", s, got)
		}
		// However a browser reads it, it stays on the same host.
		u, err := url.Parse(got)
		if err != nil {
			return
		}
		base, _ := url.Parse("https://tunnel.example/start")
		if r := base.ResolveReference(u); r.Host != "tunnel.example" || r.Scheme != "https" {
			t.Fatalf("SafeReturnPath(%q) = %q resolves to %s", s, got, r)
		}
		if strings.HasPrefix(got, "//") || strings.HasPrefix(got, `/\`) || strings.ContainsAny(got, "\t\r\n\\") {
			t.Fatalf("SafeReturnPath(%q) = %q", s, got)
		}
	})
}

func TestUpstreamCookie(t *testing.T) {
	tests := []struct {
		lines    []string
		want     string
		wantKeep bool
	}{
		{[]string{"a=1; __Host-sshgress_session=x; b=2"}, "a=1; b=2", true},
		{[]string{"__Host-sshgress_session=x", "__Host-sshgress_login=y"}, "", false},
		{[]string{"a=1", "__Host-sshgress_state_abc=z;c=3"}, "a=1; c=3", true},
		{[]string{"__host-sshgress_session=lowercase-is-not-ours"}, "__host-sshgress_session=lowercase-is-not-ours", true},
		{nil, "", false},
	}
	for _, tt := range tests {
		got, keep := upstreamCookie(http.Header{"Cookie": tt.lines})
		if got != tt.want || keep != tt.wantKeep {
			t.Errorf("upstreamCookie(%q) = %q, %v; want %q, %v", tt.lines, got, keep, tt.want, tt.wantKeep)
		}
	}
}

func FuzzCookies(f *testing.F) {
	f.Add("a=1; __Host-sshgress_session=x; b=\"2\"")
	f.Add(";;=;__Host-sshgress_=")
	f.Fuzz(func(t *testing.T, line string) {
		h := http.Header{"Cookie": {line}}
		v, keep := upstreamCookie(h)
		if strings.Contains(v, CookiePrefix) {
			for _, c := range requestCookies(http.Header{"Cookie": {v}}) {
				if strings.HasPrefix(c.name, CookiePrefix) {
					t.Fatalf("upstreamCookie(%q) kept %q", line, c.name)
				}
			}
		}
		if !keep && v != "" {
			t.Fatalf("upstreamCookie(%q) = %q without keep", line, v)
		}
		if len(requestCookies(h)) > maxCookiePairs {
			t.Fatal("requestCookies unbounded")
		}
	})
}

func TestSealer(t *testing.T) {
	s, err := newSealer(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := newSealer([]byte("0123456789abcdef0123456789abcdef"))
	v, err := s.seal(purposeSession, "a.localhost", sessionData{Host: "a.localhost"})
	if err != nil {
		t.Fatal(err)
	}
	var got sessionData
	if err := s.unseal(purposeSession, "a.localhost", v, &got); err != nil || got.Host != "a.localhost" {
		t.Fatalf("round trip: %v, %+v", err, got)
	}
	tests := []struct {
		name string
		s    *sealer
		p    purpose
		bind string
		text string
	}{
		{"other host", s, purposeSession, "b.localhost", v},
		{"other purpose", s, purposeTicket, "a.localhost", v},
		{"other key", other, purposeSession, "a.localhost", v},
		{"tampered", s, purposeSession, "a.localhost", v[:len(v)-2] + "AA"},
		{"garbage", s, purposeSession, "a.localhost", "!!!"},
		{"too long", s, purposeSession, "a.localhost", strings.Repeat("A", maxSealed+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.s.unseal(tt.p, tt.bind, tt.text, &got); err == nil {
				t.Error("unsealed, want an error")
			}
		})
	}
}

// TestServedHosts: the manifest declares the auth host (auth under the
// base domain, and the auth_host setting) so the edge reserves it from its
// config even while the plugin is disabled, and Configure answers the one
// host this config resolved, which alone gets certificates.
func TestServedHosts(t *testing.T) {
	m := New().Manifest()
	if want := []sdk.ServedHost{{Label: "auth", Setting: "auth_host"}}; !reflect.DeepEqual(m.ServedHosts, want) {
		t.Errorf("manifest served hosts %+v, want %+v", m.ServedHosts, want)
	}
	h := plugintest.Start(t, New())
	provider := map[string]any{"client_id": "id", "client_secret": "secret"}
	for _, tt := range []struct {
		section map[string]any
		want    []string
	}{
		{map[string]any{"providers": map[string]any{"google": provider}}, []string{"auth.localhost"}},
		{map[string]any{"auth_host": "Login.Example.com.", "providers": map[string]any{"google": provider}}, []string{"login.example.com"}},
	} {
		if err := h.Configure(tt.section); err != nil {
			t.Fatal(err)
		}
		if got := h.ServedHosts(); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("auth_host %v: Configure answered served hosts %q, want %q", tt.section["auth_host"], got, tt.want)
		}
	}
}
