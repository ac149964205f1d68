package e2e_test

import (
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/config"
	"github.com/sshgress/sshgress/e2e"
	"github.com/sshgress/sshgress/plugins/basicauth"
	"github.com/sshgress/sshgress/plugins/ipfilter"
	"github.com/sshgress/sshgress/plugins/tcp"
	"github.com/sshgress/sshgress/sdk"
)

// filterEdge starts an edge with the ipfilter, basicauth and tcp plugins
// enabled, each a child process of the sshgress binary as in production.
func filterEdge(t *testing.T) *e2e.Edge {
	e2e.RequireSSH(t)
	e2e.RequireTool(t, "curl", "curl")
	return e2e.StartEdge(t, e2e.EdgeOptions{
		Binary:  e2e.SharedBinary(t),
		Bundled: []sdk.Manifest{basicauth.New().Manifest(), ipfilter.New().Manifest(), tcp.New().Manifest()},
		Configure: func(c *config.Config) {
			yes := true
			c.Plugins = map[string]config.Plugin{
				basicauth.Name: {Enabled: &yes},
				ipfilter.Name:  {Enabled: &yes},
				tcp.Name:       {Enabled: &yes},
			}
		},
	})
}

// TestIPFilterCIDR: --cidr-deny 127.0.0.1/32 refuses loopback visitors
// with the edge's 403 page and one line in the owner's session;
// --cidr-allow 127.0.0.0/8 lets them in. Neither request reaches the
// plugin: while its process is stopped (SIGSTOP, so it can answer no
// call), visitors still get 403 and 200, never the 503 a per-request call
// would give.
func TestIPFilterCIDR(t *testing.T) {
	be := &counting{}
	port := serveBackend(t, be)
	edge := filterEdge(t)
	key := e2e.NewKey(t, t.TempDir(), "id")

	deny := edge.RunSSH(t, key, "-R", "denied:80:localhost:"+port, "v2@127.0.0.1", "http", "--cidr-deny", "127.0.0.1/32")
	denyURL := deny.URL(t)
	deny.WaitOutput(t, "CIDR deny 127.0.0.1/32 (ipfilter)", 5*time.Second)
	allow := edge.RunSSH(t, key, "-R", "allowed:80:localhost:"+port, "v2@127.0.0.1", "http", "--cidr-allow", "127.0.0.0/8")
	allowURL := allow.URL(t)

	if got := curl(t, edge, denyURL); got != http.StatusForbidden {
		t.Fatalf("curl from 127.0.0.1 to the --cidr-deny tunnel: %d, want 403", got)
	}
	status, page := edge.Get(t, denyURL+"/", "Accept", "text/html")
	if status != http.StatusForbidden || !strings.Contains(page, "ERR_SSHGRESS_FORBIDDEN") || !strings.Contains(page, "Access denied") {
		t.Fatalf("denied visitor got %d:\n%s\nwant the 403 page", status, page)
	}
	deny.WaitOutput(t, "Refused a visitor from 127.0.0.1 with 403: its address is in the denied range 127.0.0.1/32 (ipfilter rules).", 5*time.Second)
	if got := be.n.Load(); got != 0 {
		t.Fatalf("the upstream served %d requests of a denied visitor", got)
	}
	if got := curl(t, edge, allowURL); got != http.StatusOK {
		t.Fatalf("curl from 127.0.0.1 to the --cidr-allow tunnel: %d, want 200", got)
	}
	// One line per rule, however many refusals: the 403 request lines
	// carry the rest.
	for range 3 {
		curl(t, edge, denyURL)
	}
	deny.WaitOutput(t, "403", 5*time.Second)
	if n := strings.Count(deny.Stdout.String(), "Refused a visitor"); n != 1 {
		t.Errorf("the owner's session has %d refusal lines, want 1:\n%s", n, deny.Stdout)
	}

	pids := e2e.Processes(e2e.SharedBinary(t), "plugin", ipfilter.Name)
	if len(pids) != 1 {
		t.Fatalf("%d ipfilter processes, want 1", len(pids))
	}
	syscall.Kill(pids[0], syscall.SIGSTOP)
	t.Cleanup(func() { syscall.Kill(pids[0], syscall.SIGCONT) })
	if !waitStopped(pids[0], 5*time.Second) {
		t.Fatal("the ipfilter plugin's threads not all stopped 5s after SIGSTOP")
	}
	for range 5 {
		if got := curl(t, edge, denyURL); got != http.StatusForbidden {
			t.Fatalf("denied tunnel while the plugin is stopped: %d, want 403 (no call to the plugin)", got)
		}
		if got := curl(t, edge, allowURL); got != http.StatusOK {
			t.Fatalf("allowed tunnel while the plugin is stopped: %d, want 200 (no call to the plugin)", got)
		}
	}
	syscall.Kill(pids[0], syscall.SIGCONT)
}

// TestUAFilter: --ua-filter-deny refuses curl's User-Agent but not Go's
// HTTP client, and combines with --basic-auth (ipfilter is no auth
// method): an admitted client still needs the password.
func TestUAFilter(t *testing.T) {
	be := &counting{}
	port := serveBackend(t, be)
	edge := filterEdge(t)
	key := e2e.NewKey(t, t.TempDir(), "id")
	s := edge.RunSSH(t, key, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http",
		"--ua-filter-deny", "'^curl/'", "--basic-auth", "ann:correct-horse")
	url := s.URL(t)
	s.WaitOutput(t, "basic auth (1 user)", 5*time.Second)
	s.WaitOutput(t, "User-Agent deny 1 expression (ipfilter)", 5*time.Second)

	if got := curl(t, edge, url, "-u", "ann:correct-horse"); got != http.StatusForbidden {
		t.Fatalf("curl with the password: %d, want 403 for its User-Agent", got)
	}
	s.WaitOutput(t, `its User-Agent matches the denied expression "^curl/"`, 5*time.Second)
	if got := curl(t, edge, url, "-u", "ann:correct-horse", "-A", "Mozilla/5.0 (X11; Linux x86_64)"); got != http.StatusOK {
		t.Fatalf("curl with a browser's User-Agent and the password: %d, want 200", got)
	}
	if status, _ := edge.Get(t, url+"/"); status != http.StatusUnauthorized {
		t.Fatalf("Go's client without the password: %d, want 401 (its User-Agent passes, basic auth asks)", status)
	}
	if status, body := edge.Get(t, url+"/", "Authorization", "Basic "+b64("ann:correct-horse")); status != http.StatusOK || body != "secret page" {
		t.Fatalf("Go's client with the password: %d %q, want 200", status, body)
	}
	if got := be.n.Load(); got != 2 {
		t.Errorf("the upstream served %d requests, want the 2 admitted ones", got)
	}
}

// TestIPFilterRefusals: a bad value gets its sentence in the ssh session
// and no tunnel; --cidr-allow on tcp is still tcp's own flag.
func TestIPFilterRefusals(t *testing.T) {
	_, port := backend(t)
	edge := filterEdge(t)
	key := e2e.NewKey(t, t.TempDir(), "id")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"bad cidr", []string{"--cidr-deny", "10.0.0.300/8"}, `--cidr-deny "10.0.0.300/8" is not a CIDR prefix like 203.0.113.0/24 or an IP address`},
		{"bad regex", []string{"--ua-filter-deny", "'curl('"}, `--ua-filter-deny "curl(" is not a valid RE2 regular expression`},
		{"regex too long", []string{"--ua-filter-allow", strings.Repeat("a", sdk.MaxRegexpBytes+1)}, "--ua-filter-allow is 257 bytes long; a User-Agent expression may be at most 256"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { httpRefused(t, edge, key, port, tc.want, tc.args...) })
	}
	httpHelpLists(t, edge, key, "--cidr-allow CIDR", "--cidr-deny CIDR", "--ua-filter-allow REGEX", "--ua-filter-deny REGEX")
	s := edge.RunSSH(t, key, "-R", "0:localhost:"+port, "v2@127.0.0.1", "tcp", "--cidr-allow", "127.0.0.0/8")
	s.WaitOutput(t, "tcp://", 10*time.Second)
}

// TestIPFilterDisabled: with ipfilter off and tcp on, --cidr-allow on http
// names the plugin it needs (not "works with tcp endpoints"), and tcp's
// own --cidr-allow still works.
func TestIPFilterDisabled(t *testing.T) {
	e2e.RequireSSH(t)
	_, port := backend(t)
	edge := e2e.StartEdge(t, e2e.EdgeOptions{
		Binary:  e2e.SharedBinary(t),
		Bundled: []sdk.Manifest{ipfilter.New().Manifest(), tcp.New().Manifest()},
		Configure: func(c *config.Config) {
			yes := true
			c.Plugins = map[string]config.Plugin{tcp.Name: {Enabled: &yes}}
		},
	})
	key := e2e.NewKey(t, t.TempDir(), "id")
	s := edge.RunSSH(t, key, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http", "--cidr-allow", "127.0.0.0/8")
	if code := s.Wait(10 * time.Second); code != 1 {
		t.Fatalf("exit %d, want 1; stderr %q", code, s.Stderr)
	}
	if want := "--cidr-allow on http endpoints needs the ipfilter plugin, which is not enabled on this server."; !strings.Contains(s.Stderr.String(), want) {
		t.Errorf("stderr %q lacks %q", s.Stderr, want)
	}
	tcpTunnel := edge.RunSSH(t, key, "-R", "0:localhost:"+port, "v2@127.0.0.1", "tcp", "--cidr-allow", "127.0.0.0/8")
	tcpTunnel.WaitOutput(t, "tcp://", 10*time.Second)
}
