package basicauth_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sshgress/sshgress/plugins/basicauth"
	"github.com/sshgress/sshgress/sdk"
	"github.com/sshgress/sshgress/sdk/plugintest"
)

func start(t *testing.T) *plugintest.Harness {
	t.Helper()
	h := plugintest.Start(t, basicauth.New())
	if err := h.Configure(nil); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return h
}

func basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

func TestManifest(t *testing.T) {
	h := plugintest.Start(t, basicauth.New())
	m := h.Manifest()
	if m.Name != "basicauth" || m.APIVersion != sdk.APIVersion || !m.HTTPMiddleware {
		t.Errorf("manifest = %+v, want name basicauth, api %d, http middleware", m, sdk.APIVersion)
	}
	if len(m.Flags) != 1 {
		t.Fatalf("got %d flags, want 1", len(m.Flags))
	}
	f := m.Flags[0]
	if f.Name != "basic-auth" || !f.Repeatable || !f.Sensitive || !f.AppliesTo("http") || f.AppliesTo("tcp") {
		t.Errorf("flag = %+v, want basic-auth, repeatable, sensitive, http only", f)
	}
}

func TestConfigureRejectsSettings(t *testing.T) {
	h := plugintest.Start(t, basicauth.New())
	err := h.Configure(map[string]any{"realm": "x"})
	if err == nil || !strings.Contains(err.Error(), `unknown setting "realm"`) {
		t.Errorf("Configure with a setting: got %v, want unknown setting error", err)
	}
}

func TestOpenTunnelRefuses(t *testing.T) {
	h := start(t)
	eleven := make([]string, 11)
	for i := range eleven {
		eleven[i] = fmt.Sprintf("user%d:password%d", i, i)
	}
	tests := []struct {
		name   string
		values []string
		want   string
	}{
		{"no colon", []string{"annpassword"}, `--basic-auth needs USER:PASSWORD (got no ":")`},
		{"7-char password", []string{"ann:1234567"}, `--basic-auth password for "ann" must be 8 to 128 characters (got 7)`},
		{"129-char password", []string{"ann:" + strings.Repeat("p", 129)}, `--basic-auth password for "ann" must be 8 to 128 characters (got 129)`},
		{"11 users", eleven, `--basic-auth can be given at most 10 times (got 11)`},
		{"empty user", []string{":password1"}, `--basic-auth needs a user name before ":"`},
		{"duplicate user", []string{"ann:password1", "ann:password2"}, `--basic-auth user "ann" is given twice`},
		{"control character", []string{"ann:pass\x1bword"}, `--basic-auth password for "ann" must be UTF-8 text without control characters`},
		{"no value", nil, `--basic-auth needs USER:PASSWORD`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.Open("t1", map[string][]string{"basic-auth": tt.values})
			msg, ok := sdk.AsUserError(err)
			if !ok {
				t.Fatalf("got error %v, want a user error", err)
			}
			if msg != tt.want {
				t.Errorf("got message %q, want %q", msg, tt.want)
			}
			for _, v := range tt.values {
				if _, pw, ok := strings.Cut(v, ":"); ok && pw != "" && strings.Contains(msg, pw) {
					t.Errorf("message %q echoes a password", msg)
				}
			}
		})
	}
}

func TestOpenTunnelProtection(t *testing.T) {
	h := start(t)
	tests := []struct {
		name   string
		values []string
		want   string
	}{
		{"one user", []string{"ann:correct-horse"}, "basic auth (1 user)"},
		{"two users", []string{"ann:correct-horse", "bob:battery:staple"}, "basic auth (2 users)"},
		{"128-char password", []string{"ann:" + strings.Repeat("p", 128)}, "basic auth (1 user)"},
		{"ten users", func() []string {
			v := make([]string, 10)
			for i := range v {
				v[i] = fmt.Sprintf("u%d:password%d", i, i)
			}
			return v
		}(), "basic auth (10 users)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := h.Open("t-"+tt.name, map[string][]string{"basic-auth": tt.values})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if res.Protection != tt.want {
				t.Errorf("protection = %q, want %q", res.Protection, tt.want)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	h := start(t)
	if _, err := h.Open("t1", map[string][]string{"basic-auth": {"ann:correct-horse", "bob:battery:staple"}}); err != nil {
		t.Fatalf("Open: %v", err)
	}
	tests := []struct {
		name     string
		auth     []string
		wantUser string // "" means 401
	}{
		{"no header", nil, ""},
		{"wrong password", []string{basic("ann", "wrong-horse")}, ""},
		{"wrong user", []string{basic("eve", "correct-horse")}, ""},
		{"other user's password", []string{basic("ann", "battery:staple")}, ""},
		{"ann", []string{basic("ann", "correct-horse")}, "ann"},
		{"bob, colon in password", []string{basic("bob", "battery:staple")}, "bob"},
		{"scheme in lower case", []string{"basic " + base64.StdEncoding.EncodeToString([]byte("ann:correct-horse"))}, "ann"},
		{"malformed base64", []string{"Basic !!!notbase64"}, ""},
		{"no colon inside", []string{"Basic " + base64.StdEncoding.EncodeToString([]byte("anncorrect-horse"))}, ""},
		{"bearer scheme", []string{"Bearer abc"}, ""},
		{"two headers", []string{basic("ann", "correct-horse"), basic("ann", "correct-horse")}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := plugintest.NewRequest("t1", "GET", "https://t1.localhost/")
			req.Header["Authorization"] = tt.auth
			v, err := h.Check(req)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			checkVerdict(t, v, tt.wantUser)
		})
	}
}

// checkVerdict asserts a 401 (wantUser "") or a continue for wantUser.
func checkVerdict(t *testing.T, v sdk.Verdict, wantUser string) {
	t.Helper()
	if v.Cache == nil || !slices.Equal(v.Cache.DependsOn, []string{"Authorization"}) || v.Cache.TTL != basicauth.CacheTTL {
		t.Errorf("cache hint = %+v, want depends on Authorization for %v", v.Cache, basicauth.CacheTTL)
	}
	if wantUser == "" {
		if v.Respond == nil {
			t.Fatalf("got %+v, want a 401 response", v)
		}
		if v.Respond.Status != http.StatusUnauthorized {
			t.Errorf("status = %d, want 401", v.Respond.Status)
		}
		if got, want := http.Header(v.Respond.Header).Get("WWW-Authenticate"), `Basic realm="sshgress", charset="UTF-8"`; got != want {
			t.Errorf("WWW-Authenticate = %q, want %q", got, want)
		}
		if len(v.Respond.Body) == 0 {
			t.Error("401 has an empty body")
		}
		return
	}
	if v.Continue == nil {
		t.Fatalf("got %+v, want continue", v)
	}
	if !slices.Equal(v.Continue.RemoveHeaders, []string{"Authorization"}) {
		t.Errorf("remove headers = %q, want [Authorization]", v.Continue.RemoveHeaders)
	}
	if id := v.Continue.Identity; id == nil || id.ID != wantUser {
		t.Errorf("identity = %+v, want %q", id, wantUser)
	}
}

// TestCheckRepeated sends many requests over the one connection at once, the
// way a keep-alive connection with pipelined requests reaches the plugin.
func TestCheckRepeated(t *testing.T) {
	h := start(t)
	if _, err := h.Open("t1", map[string][]string{"basic-auth": {"ann:correct-horse"}}); err != nil {
		t.Fatalf("Open: %v", err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 80)
	for g := range 4 {
		wg.Go(func() {
			for i := range 20 {
				good := (g+i)%2 == 0
				req := plugintest.NewRequest("t1", "GET", "https://t1.localhost/x")
				if good {
					req.Header.Set("Authorization", basic("ann", "correct-horse"))
				} else {
					req.Header.Set("Authorization", basic("ann", "correct-horsE"))
				}
				v, err := h.Check(req)
				switch {
				case err != nil:
					errs <- err
				case good && v.Continue == nil:
					errs <- fmt.Errorf("request %d/%d: good credentials refused", g, i)
				case !good && (v.Respond == nil || v.Respond.Status != 401):
					errs <- fmt.Errorf("request %d/%d: bad credentials let through", g, i)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestCheckClosedTunnel(t *testing.T) {
	h := start(t)
	if _, err := h.Open("t1", map[string][]string{"basic-auth": {"ann:correct-horse"}}); err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := h.CloseTunnel("t1"); err != nil {
		t.Fatalf("CloseTunnel: %v", err)
	}
	req := plugintest.NewRequest("t1", "GET", "https://t1.localhost/")
	req.Header.Set("Authorization", basic("ann", "correct-horse"))
	if v, err := h.Check(req); err == nil {
		t.Errorf("Check on a closed tunnel = %+v, want an error (the edge fails closed)", v)
	}
}

func TestParseBasicAuth(t *testing.T) {
	tests := []struct {
		header       string
		user, passwd string
		ok           bool
	}{
		{basic("ann", "pw"), "ann", "pw", true},
		{"BASIC   " + base64.StdEncoding.EncodeToString([]byte("a:b")), "a", "b", true},
		{"Basic " + base64.RawStdEncoding.EncodeToString([]byte("ann:p")), "ann", "p", true},
		{basic("", ""), "", "", true},
		{"Basic", "", "", false},
		{"Basic ", "", "", false},
		{"Basic YW5u", "", "", false}, // "ann", no colon
		{"Basic YW5uOnB3 extra", "", "", false},
		{"Digest abc", "", "", false},
		{"Basic " + strings.Repeat("A", 5000), "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.header[:min(len(tt.header), 30)], func(t *testing.T) {
			user, passwd, ok := basicauth.ParseBasicAuth(tt.header)
			if user != tt.user || passwd != tt.passwd || ok != tt.ok {
				t.Errorf("ParseBasicAuth(%q) = %q, %q, %v; want %q, %q, %v", tt.header, user, passwd, ok, tt.user, tt.passwd, tt.ok)
			}
		})
	}
}

func FuzzParseBasicAuth(f *testing.F) {
	for _, s := range []string{basic("ann", "correct-horse"), "Basic", "Basic =", "basic YTpi", "Basic YTpi==", "Bearer x", "Basic \t YTpi"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		user, passwd, ok := basicauth.ParseBasicAuth(header)
		if !ok {
			if user != "" || passwd != "" {
				t.Fatalf("ParseBasicAuth(%q) returned values with ok=false", header)
			}
			return
		}
		if strings.Contains(user, ":") {
			t.Fatalf("ParseBasicAuth(%q): user %q holds a colon", header, user)
		}
		u2, p2, ok2 := basicauth.ParseBasicAuth(basic(user, passwd))
		if !ok2 || u2 != user || p2 != passwd {
			t.Fatalf("round trip of %q, %q = %q, %q, %v", user, passwd, u2, p2, ok2)
		}
	})
}
