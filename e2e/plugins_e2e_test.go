package e2e_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatalf("curl missing: %v", err)
	}
	host := e2e.Host(url)
	_, port, _ := strings.Cut(host, ":")
	full := append([]string{"-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10",
		"--connect-to", fmt.Sprintf("%s:%s:%s", strings.Split(host, ":")[0], port, edge.HTTPAddr().String())}, args...)
	full = append(full, url+"/")
	out, err := exec.Command("curl", full...).Output()
	if err != nil {
		t.Fatalf("curl: %v", err)
	}
	var code int
	fmt.Sscanf(string(out), "%d", &code)
	return code
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

// TestPluginKilledUnderLoad kills the basic-auth plugin with SIGKILL while
// visitors with and without credentials keep coming: no unauthenticated
// request may reach the upstream, a request needing a fresh verdict gets
// the 503 page while the plugin cannot answer (stopped, then killed), it
// serves again within 2 s, the tunnel survives, one plugin process remains.
func TestPluginKilledUnderLoad(t *testing.T) {
	be := &counting{}
	port := serveBackend(t, be)
	edge := authEdge(t, nil)
	bin := e2e.SharedBinary(t)
	key := e2e.NewKey(t, t.TempDir(), "id")
	s := edge.RunSSH(t, key, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http", "--basic-auth", "ann:correct-horse")
	url := s.URL(t)

	var bad2xx, good, unavailable, other atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := edge.Client()
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				withCreds := (w+i)%2 == 0
				req, _ := http.NewRequest("GET", url+"/load", nil)
				if withCreds {
					req.SetBasicAuth("ann", "correct-horse")
				} else if i%3 == 0 {
					req.SetBasicAuth("ann", fmt.Sprintf("wrong-%d-horse", i)) // defeat the verdict cache
				}
				resp, err := client.Do(req)
				if err != nil {
					other.Add(1)
					continue
				}
				resp.Body.Close()
				switch {
				case resp.StatusCode/100 == 2 && !withCreds:
					bad2xx.Add(1)
				case resp.StatusCode == 200:
					good.Add(1)
				case resp.StatusCode == 503:
					unavailable.Add(1)
					if resp.Header.Get("Retry-After") == "" {
						other.Add(1)
					}
				case resp.StatusCode == 401 && !withCreds:
				default:
					other.Add(1)
				}
			}
		}()
	}
	for round := range 5 {
		time.Sleep(300 * time.Millisecond)
		pids := e2e.Processes(bin, "plugin", "basicauth")
		if len(pids) != 1 {
			t.Fatalf("round %d: %d basicauth processes before the kill, want 1", round, len(pids))
		}
		// Stopped, the plugin cannot answer: a request that needs a fresh
		// verdict gets the 503 page once the call's deadline passes, never
		// the upstream.
		syscall.Kill(pids[0], syscall.SIGSTOP)
		// A group stop takes effect only once a thread of the plugin is
		// scheduled to take it; until then its other threads still answer
		// (seen under load on 2 cores). Wait until every thread is stopped.
		if !waitStopped(pids[0], 5*time.Second) {
			t.Fatalf("round %d: the plugin's threads not all stopped 5s after SIGSTOP", round)
		}
		status, retryAfter, page, err := getWithAuth(client, url+"/load", "ann", fmt.Sprintf("stopped-%d", round))
		syscall.Kill(pids[0], syscall.SIGKILL)
		if err != nil {
			t.Fatalf("round %d: request while the plugin is stopped: %v", round, err)
		}
		if status != http.StatusServiceUnavailable || retryAfter == "" || !strings.Contains(page, "ERR_SSHGRESS_UNAVAILABLE") || !strings.Contains(page, "Temporarily unavailable") {
			t.Fatalf("round %d: while the plugin is stopped: status %d, Retry-After %q, page %q; want 503, a Retry-After and the unavailable page", round, status, retryAfter, page)
		}
		killed := time.Now()
		before := good.Load()
		for good.Load() == before {
			if time.Since(killed) > 2*time.Second {
				t.Fatalf("round %d: no authenticated request served within 2s of the kill", round)
			}
			time.Sleep(10 * time.Millisecond)
		}
		// Check a fresh verdict too (not only cached ones).
		deadline := time.Now().Add(2 * time.Second)
		for curl(t, edge, url, "-u", fmt.Sprintf("ann:uncached-%d", round)) != 401 {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: plugin not answering 2s after the kill", round)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("served %d, 503 %d, other %d", good.Load(), unavailable.Load(), other.Load())
	if n := bad2xx.Load(); n != 0 {
		t.Fatalf("%d requests without valid credentials got a 2xx", n)
	}
	if n := other.Load(); n != 0 {
		t.Errorf("%d requests failed otherwise (transport errors, unexpected statuses or 503 without Retry-After)", n)
	}
	select {
	case <-s.Done():
		t.Fatal("the tunnel's ssh session ended")
	default:
	}
	if pids := e2e.Processes(bin, "plugin", "basicauth"); len(pids) != 1 {
		t.Errorf("%d basicauth processes afterwards, want 1", len(pids))
	}
	s.WaitOutput(t, "restarted", 2*time.Second)
}

// getWithAuth GETs url with basic credentials and returns the status, the
// Retry-After header and up to 64 KiB of the body.
// waitStopped reports whether every thread of process pid is in the
// stopped state ('T') within d.
func waitStopped(pid int, d time.Duration) bool {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		tasks, err := os.ReadDir(dir)
		if err != nil || len(tasks) == 0 {
			continue
		}
		stopped := true
		for _, task := range tasks {
			st, err := os.ReadFile(filepath.Join(dir, task.Name(), "stat"))
			i := strings.LastIndexByte(string(st), ')')
			if err != nil || i < 0 {
				stopped = false
				break
			}
			if f := strings.Fields(string(st[i+1:])); len(f) == 0 || f[0] != "T" {
				stopped = false
				break
			}
		}
		if stopped {
			return true
		}
	}
	return false
}

func getWithAuth(client *http.Client, url, user, pass string) (int, string, string, error) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return 0, "", "", err
	}
	req.SetBasicAuth(user, pass)
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, resp.Header.Get("Retry-After"), string(body), err
}

// TestEdgeKilledLeavesNoPlugins runs the real binary, kills it with SIGKILL
// and checks that its plugin processes die with it.
func TestEdgeKilledLeavesNoPlugins(t *testing.T) {
	bin := e2e.SharedBinary(t)
	// A private copy, so other tests' plugin processes don't count.
	own := filepath.Join(t.TempDir(), "sshgress-kill")
	copyFile(t, bin, own)
	cmd := exec.Command(own, "serve", "--ssh-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--https-addr", "127.0.0.1:0", "--data-dir", t.TempDir())
	cmd.Env = append(os.Environ(), "SSHGRESS_PLUGINS_BASICAUTH_ENABLED=true")
	logs := &e2e.SyncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "edge started") {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("edge did not start:\n%s", logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(e2e.Processes(own, "plugin", "basicauth")); n != 1 {
		t.Fatalf("%d plugin processes while the edge runs, want 1", n)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-done
	deadline = time.Now().Add(2 * time.Second)
	for len(e2e.Processes(own, "plugin", "basicauth")) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("plugin processes still running 2s after the edge was killed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestThirdPartyPlugin loads the example plugin from sdk/examples through
// config, uses its flag end to end, and checks that a wrong checksum stops
// the edge's start with a clear message.
// buildExample builds the example plugin sdk/examples/NAME into dir (bounded
// at 5 minutes) and returns its path and sha256, as the config names it.
func buildExample(t *testing.T, dir, name string) (string, [sha256.Size]byte) {
	t.Helper()
	plugin := filepath.Join(dir, name)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", plugin, "./sdk/examples/"+name)
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build example plugin %s: %v\n%s", name, err, out)
	}
	data, err := os.ReadFile(plugin)
	if err != nil {
		t.Fatal(err)
	}
	return plugin, sha256.Sum256(data)
}

func TestThirdPartyPlugin(t *testing.T) {
	e2e.RequireSSH(t)
	dir := t.TempDir()
	plugin, sum := buildExample(t, dir, "headers")

	t.Run("wrong checksum refused", func(t *testing.T) {
		bin := e2e.SharedBinary(t)
		cfgFile := filepath.Join(t.TempDir(), "edge.yaml")
		os.WriteFile(cfgFile, []byte(fmt.Sprintf("plugins:\n  headers:\n    path: %s\n    sha256: %q\n", plugin, strings.Repeat("ab", 32))), 0o600)
		// An edge that starts anyway serves until killed: bound the wait,
		// and tell that apart from a refused start.
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "serve", "--config", cfgFile, "--ssh-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--https-addr", "127.0.0.1:0", "--data-dir", t.TempDir())
		cmd.WaitDelay = 5 * time.Second
		out, err := cmd.CombinedOutput()
		if ctx.Err() != nil {
			t.Fatalf("edge still running 30s after starting with a wrong plugin checksum; output:\n%s", out)
		}
		if err == nil {
			t.Fatal("edge exited 0 with a wrong plugin checksum")
		}
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() <= 0 {
			t.Fatalf("edge with a wrong plugin checksum: %v, want a non-zero exit status", err)
		}
		if !strings.Contains(string(out), "headers") || !strings.Contains(strings.ToLower(string(out)), "checksum") {
			t.Errorf("message %q does not name the plugin and the checksum", out)
		}
	})

	t.Run("loaded and used", func(t *testing.T) {
		be := &counting{}
		port := serveBackend(t, be)
		edge := e2e.StartEdge(t, e2e.EdgeOptions{Configure: func(c *config.Config) {
			c.Plugins = map[string]config.Plugin{"headers": {Path: plugin, SHA256: hex.EncodeToString(sum[:])}}
		}})
		key := e2e.NewKey(t, t.TempDir(), "id")
		s := edge.RunSSH(t, key, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http", "--request-header-add", `"X-Env: staging"`, "--request-header-remove", "X-Drop")
		url := s.URL(t)
		if st, _ := edge.Get(t, url+"/hdr", "X-Drop", "1"); st != 200 {
			t.Fatalf("status %d", st)
		}
		v, ok := be.seen.Load("/hdr")
		if !ok {
			t.Fatal("backend saw no request")
		}
		h := v.(http.Header)
		if h.Get("X-Env") != "staging" || h.Get("X-Drop") != "" {
			t.Errorf("upstream headers X-Env=%q X-Drop=%q, want staging and none", h.Get("X-Env"), h.Get("X-Drop"))
		}
	})
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
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

// TestThirdPartyPluginEndpointType loads the example endpoint plugin from
// sdk/examples/game through config: the edge's help shows the summary,
// remote ports and example its manifest describes, a remote port the
// manifest does not take is refused with a sentence built from it, and a
// forward on port 0 carries bytes to the local service.
func TestThirdPartyPluginEndpointType(t *testing.T) {
	e2e.RequireSSH(t)
	plugin, sum := buildExample(t, t.TempDir(), "game")
	edge := e2e.StartEdge(t, e2e.EdgeOptions{Configure: func(c *config.Config) {
		c.Plugins = map[string]config.Plugin{"game": {Path: plugin, SHA256: hex.EncodeToString(sum[:])}}
	}})
	key := e2e.NewKey(t, t.TempDir(), "id")

	s := edge.RunSSH(t, key, "v2@127.0.0.1", "help")
	if code := s.Wait(10 * time.Second); code != 0 {
		t.Fatalf("help: exit %d, want 0", code)
	}
	if got := s.Stdout.String(); !strings.Contains(got, "game      Publish a local game server at a public port") {
		t.Errorf("help does not list game with its manifest's summary:\n%s", got)
	}
	s = edge.RunSSH(t, key, "v2@127.0.0.1", "game", "--help")
	if code := s.Wait(10 * time.Second); code != 0 {
		t.Fatalf("game --help: exit %d, want 0", code)
	}
	for _, want := range []string{"Remote ports: 25565 or 0", "ssh -R 0:localhost:25565 v2@localhost -p " + edge.SSHPort + " game", "--cidr-allow CIDR"} {
		if !strings.Contains(s.Stdout.String(), want) {
			t.Errorf("game --help lacks %q:\n%s", want, s.Stdout)
		}
	}

	echo, _ := echoServer(t)
	s = edge.RunSSH(t, key, "-R", "8080:localhost:"+echo, "v2@127.0.0.1", "game")
	if code := s.Wait(10 * time.Second); code != 1 {
		t.Fatalf("-R 8080 game: exit %d (-1: still running after 10s), want 1; stderr %q", code, s.Stderr)
	}
	if got := s.Stderr.String(); !strings.Contains(got, "game endpoints listen on remote port 25565 or 0, not 8080") {
		t.Errorf("-R 8080 game: stderr %q lacks the remote-port sentence from the manifest", got)
	}

	s = edge.RunSSH(t, key, "-R", "0:localhost:"+echo, "v2@127.0.0.1", "game")
	url := s.URL(t)
	if !strings.HasPrefix(url, "tcp://localhost:300") {
		t.Fatalf("url %q, want tcp://localhost:PORT from the plugin's 30000-30099", url)
	}
	c, err := net.DialTimeout("tcp", tcpAddr(t, url), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip(t, c, 64<<10)
}
