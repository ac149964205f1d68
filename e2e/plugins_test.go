package e2e_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/config"
	"github.com/sshgress/sshgress/e2e"
	"github.com/sshgress/sshgress/plugins/basicauth"
	"github.com/sshgress/sshgress/plugins/oauth"
	"github.com/sshgress/sshgress/sdk"
)

// bundled describes the bundled plugins as cmd/sshgress does.
func bundled() []sdk.Manifest {
	return []sdk.Manifest{basicauth.New().Manifest(), oauth.New().Manifest()}
}

// authEdge starts an edge with the basicauth plugin enabled (run as a child
// process of the sshgress binary, as in production).
func authEdge(t *testing.T, configure func(*config.Config)) *e2e.Edge {
	e2e.RequireSSH(t)
	bin := e2e.SharedBinary(t)
	return e2e.StartEdge(t, e2e.EdgeOptions{
		Binary:  bin,
		Bundled: bundled(),
		Configure: func(c *config.Config) {
			yes := true
			c.Plugins = map[string]config.Plugin{"basicauth": {Enabled: &yes}}
			if configure != nil {
				configure(c)
			}
		},
	})
}

// counting is a backend that counts the requests it served and records
// whether any arrived without the expected credentials having been checked.
type counting struct {
	n    atomic.Int64
	seen sync.Map // path -> header snapshot
}

func (c *counting) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.n.Add(1)
	c.seen.Store(r.URL.Path, r.Header.Clone())
	fmt.Fprint(w, "secret page")
}

func curl(t *testing.T, edge *e2e.Edge, url string, args ...string) int {
	t.Helper()
	return curlPath(t, edge, url, "/", args...)
}

func TestBasicAuth(t *testing.T) {
	be := &counting{}
	port := serveBackend(t, be)
	edge := authEdge(t, nil)
	key := e2e.NewKey(t, t.TempDir(), "id")
	// Quoted values: the remote shell-style parser keeps 'a b:c d e f g h'
	// as one value (the outer quotes are for the local shell, the inner
	// ones travel in the exec string).
	s := edge.RunSSH(t, key, "-R", "80:localhost:"+port, "v2@127.0.0.1",
		"http", "--basic-auth", `"a b:c d e f g h"`, "--basic-auth", "ann:correct-horse")
	url := s.URL(t)
	s.WaitOutput(t, "basic auth (2 users)", 2*time.Second)
	if strings.Contains(s.Stdout.String(), "correct-horse") {
		t.Fatal("the banner echoes a password")
	}
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"no credentials", nil, 401},
		{"wrong password", []string{"-u", "ann:wrong-horse"}, 401},
		{"unknown user", []string{"-u", "bob:correct-horse"}, 401},
		{"first user (spaces)", []string{"-u", "a b:c d e f g h"}, 200},
		{"second user", []string{"-u", "ann:correct-horse"}, 200},
		{"proxy-authorization ignored", []string{"-H", "Proxy-Authorization: Basic " + b64("ann:correct-horse")}, 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := curl(t, edge, url, tc.args...); got != tc.want {
				t.Fatalf("status %d, want %d", got, tc.want)
			}
		})
	}
	if got := be.n.Load(); got != 2 {
		t.Errorf("backend served %d requests, want exactly the 2 authenticated ones", got)
	}
	be.seen.Range(func(_, v any) bool {
		if h := v.(http.Header); h.Get("Authorization") != "" {
			t.Errorf("Authorization header reached the upstream")
		}
		return true
	})
	// Pipelined: a second request without credentials on the same
	// connection must not ride on the first one's verdict.
	if got := pipelined(t, edge, e2e.Host(url), "ann:correct-horse"); got != "200,401" {
		t.Errorf("pipelined statuses %q, want 200,401", got)
	}
}

func TestBasicAuthRefusals(t *testing.T) {
	_, port := backend(t)
	edge := authEdge(t, nil)
	key := e2e.NewKey(t, t.TempDir(), "id")
	tests := []struct{ name, flag, want string }{
		{"short password", "ann:1234567", "8 to 128 characters"},
		{"no colon", "ann", `":"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := edge.RunSSH(t, key, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http", "--basic-auth", tc.flag)
			if code := s.Wait(10 * time.Second); code != 1 {
				t.Fatalf("exit %d, want 1; stderr %q", code, s.Stderr)
			}
			if !strings.Contains(s.Stderr.String(), tc.want) {
				t.Errorf("stderr %q lacks %q", s.Stderr, tc.want)
			}
			if strings.Contains(s.Stderr.String(), "1234567") {
				t.Errorf("the error echoes the password")
			}
		})
	}
	if n := edge.HTTP().Routes(); n != 0 {
		t.Errorf("%d routes left after refused tunnels", n)
	}
}

func TestHelpListsEnabledPluginFlags(t *testing.T) {
	key := e2e.NewKey(t, t.TempDir(), "id")
	with := authEdge(t, nil)
	s := with.RunSSH(t, key, "v2@127.0.0.1", "http", "--help")
	if code := s.Wait(10 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(s.Stdout.String(), "--basic-auth") {
		t.Errorf("help with basicauth enabled lacks --basic-auth:\n%s", s.Stdout)
	}

	without := e2e.StartEdge(t, e2e.EdgeOptions{Bundled: bundled()})
	s = without.RunSSH(t, key, "v2@127.0.0.1", "http", "--help")
	// A hung session prints nothing, which lacks --basic-auth too: the help
	// must have ended with status 0 and be the help.
	if code := s.Wait(10 * time.Second); code != 0 {
		t.Fatalf("help without basicauth: exit %d (-1: still running after 10s), want 0; stdout:\n%s", code, s.Stdout)
	}
	if got := s.Stdout.String(); !strings.Contains(got, "Usage") || !strings.Contains(got, "-h, --help") {
		t.Errorf("help without basicauth is not the http usage:\n%s", got)
	}
	if strings.Contains(s.Stdout.String(), "--basic-auth") {
		t.Errorf("help lists --basic-auth though the plugin is disabled:\n%s", s.Stdout)
	}
	_, port := backend(t)
	s = without.RunSSH(t, key, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http", "--basic-auth", "ann:correct-horse")
	if code := s.Wait(10 * time.Second); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if got := s.Stderr.String(); !strings.Contains(got, "basicauth plugin, which is not enabled on this server") {
		t.Errorf("stderr %q does not say the plugin is disabled", got)
	}
}

// TestOneAuthMethodPerEndpoint: --basic-auth with --oauth is refused with a
// sentence naming both (the plugins' manifests mark them as auth methods).
func TestOneAuthMethodPerEndpoint(t *testing.T) {
	_, port := backend(t)
	edge := authEdge(t, func(c *config.Config) {
		yes := true
		c.Plugins["oauth"] = config.Plugin{Enabled: &yes, Config: map[string]any{
			// Never contacted: the command is refused before any sign-in.
			"providers": map[string]any{"corp": map[string]any{"client_id": "id", "client_secret": "secret", "issuer": "http://127.0.0.1:9"}},
		}}
	})
	key := e2e.NewKey(t, t.TempDir(), "id")
	s := edge.RunSSH(t, key, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http", "--basic-auth", "ann:correct-horse", "--oauth", "corp")
	if code := s.Wait(10 * time.Second); code != 1 {
		t.Fatalf("exit %d, want 1; stderr %q", code, s.Stderr)
	}
	if got := s.Stderr.String(); !strings.Contains(got, "--basic-auth and --oauth cannot be combined") {
		t.Errorf("stderr %q does not name both auth flags", got)
	}
}

// TestOAuthAuthHostReservedWhileDisabled: the hosts the oauth plugin's
// manifest declares (auth under the base domain, and its auth_host
// setting) are kept from tunnels from the config alone, with the plugin
// disabled, so enabling it later cannot collide with a tunnel; the core
// learns them from the manifest, not from knowing the plugin.
func TestOAuthAuthHostReservedWhileDisabled(t *testing.T) {
	e2e.RequireSSH(t)
	_, port := backend(t)
	no := false
	edge := e2e.StartEdge(t, e2e.EdgeOptions{Bundled: bundled(), Configure: func(c *config.Config) {
		c.Plugins = map[string]config.Plugin{oauth.Name: {Enabled: &no, Config: map[string]any{"auth_host": "login.localhost"}}}
	}})
	key := e2e.NewKey(t, t.TempDir(), "id")
	for _, label := range []string{"auth", "login"} {
		s := edge.RunSSH(t, key, "-R", label+":80:localhost:"+port, "v2@127.0.0.1", "http")
		if code := s.Wait(10 * time.Second); code != 1 {
			t.Fatalf("-R %s:80: exit %d (-1: still running after 10s), want 1; stderr %q", label, code, s.Stderr)
		}
		if got := s.Stderr.String(); !strings.Contains(got, label+".localhost is used by the edge itself") {
			t.Errorf("-R %s:80: stderr %q does not say the edge serves the name", label, got)
		}
	}
	s := edge.RunSSH(t, key, "-R", "other:80:localhost:"+port, "v2@127.0.0.1", "http")
	if url := s.URL(t); !strings.Contains(url, "other.localhost") {
		t.Errorf("URL %q, want other.localhost", url)
	}
}
