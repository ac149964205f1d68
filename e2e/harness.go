// Package e2e holds the end-to-end suites (its _test.go files, package
// e2e_test) and the harness they share: it builds keys, starts an
// in-process core.Edge on loopback ports, runs the real OpenSSH client's
// `ssh -R` and reads what the user's terminal would show. The harness is
// test support: only test files import it (policy's TestLayering holds
// that), so nothing of it reaches a binary.
//
// Unit tests stay beside the code they test; what needs OpenSSH, sshd,
// curl, chromium or the built binary lives here.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"

	"github.com/sshgress/sshgress/core"
	"github.com/sshgress/sshgress/core/config"
	"github.com/sshgress/sshgress/sdk"
)

// Key is a client key pair written to disk for ssh -i.
type Key struct {
	Path   string
	Signer ssh.Signer
	// AuthorizedKey is the public key as an authorized_keys line.
	AuthorizedKey string
}

// NewKey generates an ed25519 key in dir.
func NewKey(t testing.TB, dir, name string) *Key {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, name)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return &Key{Path: path, Signer: signer, AuthorizedKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))}
}

// Edge is a running in-process edge.
type Edge struct {
	*core.Edge
	Cfg     *config.Config
	SSHPort string
	// Logs collects the edge's log output.
	Logs *SyncBuffer
	// Access collects the access log when log.access is "stderr" (the
	// default).
	Access *SyncBuffer

	clientOnce sync.Once
	client     *http.Client
}

// EdgeOptions tunes StartEdge.
type EdgeOptions struct {
	// Configure edits the config before the edge starts.
	Configure func(*config.Config)
	// Binary is the sshgress executable that runs bundled plugins; "" when
	// the test enables none.
	Binary string
	// Bundled describes the bundled plugins (for disabled-flag messages).
	Bundled []sdk.Manifest
	// LoginLink is core.Options.LoginLink: the dashboard's sign-in links.
	LoginLink func(ctx context.Context, account string) (string, error)
}

// StartEdge starts an edge on loopback with test-friendly defaults and
// stops it when the test ends.
func StartEdge(t testing.TB, o EdgeOptions) *Edge {
	t.Helper()
	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.SSH.Addr = "127.0.0.1:0"
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.HTTPS.Addr = "127.0.0.1:0"
	cfg.Admin.Addr = "127.0.0.1:0"
	if o.Configure != nil {
		o.Configure(cfg)
	}
	logs := &SyncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	access := &SyncBuffer{}
	opts := core.Options{Logger: log, Bundled: o.Bundled, LoginLink: o.LoginLink, AccessStderr: access}
	if o.Binary != "" {
		bin := o.Binary
		opts.BundledPlugin = func(name string) *exec.Cmd { return exec.Command(bin, "plugin", name) }
	}
	e, err := core.New(context.Background(), cfg, opts)
	if err != nil {
		t.Fatalf("core.New: %v", err)
	}
	if err := e.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	edge := &Edge{Edge: e, Cfg: cfg, Logs: logs, Access: access}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if edge.client != nil {
			edge.client.CloseIdleConnections()
		}
		e.Shutdown(ctx)
		if t.Failed() {
			t.Logf("edge log:\n%s", logs.String())
		}
	})
	_, edge.SSHPort, _ = net.SplitHostPort(e.SSHAddr().String())
	return edge
}

// Client returns an HTTP client that sends every request to the edge's
// HTTP listener, whatever the URL's host (so *.localhost names route).
func (e *Edge) Client() *http.Client {
	e.clientOnce.Do(func() { e.client = e.newClient() })
	return e.client
}

func (e *Edge) newClient() *http.Client {
	addr := e.HTTPAddr().String()
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Timeout: 60 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return d.DialContext(ctx, network, addr)
			},
			MaxIdleConnsPerHost: 64,
			DisableCompression:  true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// SSH is a running OpenSSH client.
type SSH struct {
	Cmd    *exec.Cmd
	Stdout *SyncBuffer
	Stderr *SyncBuffer
	stdin  io.WriteCloser
	done   chan struct{}
	err    error
}

// SSHArgs are the options every test client uses: no user config, no host
// key prompts, fail rather than ask.
func (e *Edge) SSHArgs(key *Key) []string {
	return []string{
		"-F", "/dev/null",
		"-i", key.Path,
		"-o", "IdentitiesOnly=yes",
		"-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes",
		"-o", "LogLevel=ERROR",
		"-o", "ExitOnForwardFailure=yes",
		"-p", e.SSHPort,
	}
}

// RunSSH starts ssh with the common options, then args (forwards,
// user@host, command). It is killed when the test ends.
func (e *Edge) RunSSH(t testing.TB, key *Key, args ...string) *SSH {
	t.Helper()
	full := append(e.SSHArgs(key), args...)
	cmd := exec.Command("ssh", full...)
	s := &SSH{Cmd: cmd, Stdout: &SyncBuffer{}, Stderr: &SyncBuffer{}, done: make(chan struct{})}
	cmd.Stdout = s.Stdout
	cmd.Stderr = s.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.stdin = stdin
	if err := cmd.Start(); err != nil {
		t.Fatalf("start ssh: %v", err)
	}
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() { s.Kill() })
	return s
}

// Kill ends the ssh client at once and waits for it.
func (s *SSH) Kill() {
	if s.Cmd.Process != nil {
		s.Cmd.Process.Kill()
	}
	<-s.done
}

// Done is closed when ssh exits.
func (s *SSH) Done() <-chan struct{} { return s.done }

// Wait waits up to d for ssh to exit and returns its exit code (-1 on
// timeout).
func (s *SSH) Wait(d time.Duration) int {
	select {
	case <-s.done:
	case <-time.After(d):
		return -1
	}
	if s.err == nil {
		return 0
	}
	if ee, ok := s.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -2
}

var urlRE = regexp.MustCompile(`Forwarding\s+(\S+)`)

// URLs waits until the banner shows n forwarding lines and returns their
// URLs.
func (s *SSH) URLs(t testing.TB, n int) []string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		m := urlRE.FindAllStringSubmatch(s.Stdout.String(), -1)
		if len(m) >= n {
			var urls []string
			for _, x := range m[:n] {
				urls = append(urls, x[1])
			}
			return urls
		}
		select {
		case <-s.done:
			t.Fatalf("ssh exited before the banner: %v\nstdout:\n%s\nstderr:\n%s", s.err, s.Stdout, s.Stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("no banner with %d URLs within 15s\nstdout:\n%s\nstderr:\n%s", n, s.Stdout, s.Stderr)
	return nil
}

// URL waits for the banner and returns its first URL.
func (s *SSH) URL(t testing.TB) string { return s.URLs(t, 1)[0] }

// WaitOutput waits until stdout contains want.
func (s *SSH) WaitOutput(t testing.TB, want string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if strings.Contains(s.Stdout.String(), want) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("stdout lacks %q after %s:\n%s", want, d, s.Stdout)
}

// SyncBuffer is a bytes.Buffer safe for concurrent writes and reads.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Lines returns the buffer split into lines.
func (b *SyncBuffer) Lines() []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// RequireTool returns the path of a command the test needs. Without it the
// test is skipped on a developer's machine, but fails in CI (CI=…), where
// .ci/run installs it: a test CI skips does not count. pkg names the Debian
// package that provides it.
func RequireTool(t testing.TB, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s missing in CI (Debian package %s): %v", name, pkg, err)
		}
		t.Skipf("no %s (apt-get install %s)", name, pkg)
	}
	return path
}

// RequireSSH is RequireTool for the OpenSSH client.
func RequireSSH(t testing.TB) { t.Helper(); RequireTool(t, "ssh", "openssh-client") }

func moduleRoot(t testing.TB) string {
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found")
		}
		dir = parent
	}
}

// Host returns the host part of a URL like http://name.localhost:8080.
func Host(url string) string {
	s := strings.TrimPrefix(strings.TrimPrefix(url, "http://"), "https://")
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s = s[:i]
	}
	return s
}

// Get fetches url through the edge and returns status and body.
func (e *Edge) Get(t testing.TB, url string, hdr ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.Client().Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

// SharedBinary builds ./cmd/sshgress once per test process and returns its
// path. CleanupShared removes it; call it from TestMain.
func SharedBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "sshgress-e2e-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "sshgress")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/sshgress")
		cmd.Dir = moduleRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// CleanupShared removes what SharedBinary built.
func CleanupShared() {
	if binDir != "" {
		os.RemoveAll(binDir)
	}
}

// Processes returns the PIDs of live processes whose command line starts
// with the given words (e.g. the binary path, "plugin", "basicauth").
func Processes(words ...string) []int {
	want := strings.Join(words, "\x00")
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid := 0
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.HasPrefix(string(b), want) {
			continue
		}
		// Zombies (exited, not yet reaped) are not running processes.
		if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil {
			if f := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+1:])); len(f) > 0 && f[0] == "Z" {
				continue
			}
		}
		pids = append(pids, pid)
	}
	return pids
}
