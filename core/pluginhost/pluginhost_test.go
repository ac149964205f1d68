package pluginhost

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sshgress/sshgress/core/usererr"
	"github.com/sshgress/sshgress/sdk"
	"github.com/sshgress/sshgress/sdk/plugintest"
)

// testBin is the testdata/testplugin executable, built once by TestMain.
var testBin string

func TestMain(m *testing.M) {
	if os.Getenv("PLUGINHOST_ORPHAN_HELPER") != "" {
		orphanHelper()
		return
	}
	dir, err := os.MkdirTemp("", "pluginhost-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testBin, err = plugintest.BuildBinary(dir, "./testdata/testplugin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goroutines leaked: %v\n", err)
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func bundled(name string) *exec.Cmd { return exec.Command(testBin, "plugin", name) }

// logBuffer collects the host's log for assertions and echoes it to t.Log
// while the test runs.
type logBuffer struct {
	mu   sync.Mutex
	t    testing.TB
	buf  bytes.Buffer
	done bool
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	if !l.done {
		l.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// startHost starts a host with the given specs and closes it when the test
// ends.
func startHost(t *testing.T, specs []Spec, opts Options) (*Host, *logBuffer) {
	t.Helper()
	logs := &logBuffer{t: t}
	t.Cleanup(func() {
		logs.mu.Lock()
		logs.done = true
		logs.mu.Unlock()
	})
	opts.Bundled = bundled
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.BaseDomain = "localhost"
	opts.DataDir = t.TempDir()
	h, err := Start(context.Background(), specs, opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	return h, logs
}

func basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

func httpTunnel(id string, values map[string]map[string][]string) Tunnel {
	return Tunnel{ID: id, Account: "ann", Command: "http", Host: id + ".localhost", URL: "https://" + id + ".localhost", RemotePort: 443, Values: values}
}

func basicTunnel(id string, creds ...string) Tunnel {
	return httpTunnel(id, map[string]map[string][]string{"basicauth": {"basic-auth": creds}})
}

func get(auth string) *http.Request {
	r := httptest.NewRequest("GET", "https://t1.localhost/x?y=1", nil)
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	return r
}

var client = netip.MustParseAddrPort("192.0.2.7:40000")

func TestStartDescribesAndConfigures(t *testing.T) {
	h, _ := startHost(t, []Spec{{Name: "basicauth"}, {Name: "misbehave"}}, Options{})
	ms := h.Manifests()
	if len(ms) != 2 || ms[0].Name != "basicauth" || ms[1].Name != "misbehave" {
		t.Fatalf("Manifests = %+v, want basicauth and misbehave", ms)
	}
	if !ms[0].HTTPMiddleware || ms[0].APIVersion != sdk.APIVersion {
		t.Errorf("basicauth manifest = %+v, want an http middleware of api %d", ms[0], sdk.APIVersion)
	}
	flags := h.Flags()
	if got := flags["basicauth"]; len(got) != 1 || got[0].Name != "basic-auth" || !got[0].Sensitive {
		t.Errorf("Flags()[basicauth] = %+v, want the sensitive basic-auth flag", got)
	}
	if got := flags["misbehave"]; len(got) != 1 || got[0].Name != "misbehave" {
		t.Errorf("Flags()[misbehave] = %+v, want the misbehave flag", got)
	}
}

func TestStartErrors(t *testing.T) {
	sum := fileSHA256(t, testBin)
	tests := []struct {
		name  string
		specs []Spec
		opts  Options
		want  []string
	}{
		{
			name:  "flag conflict",
			specs: []Spec{{Name: "basicauth"}, {Name: "conflict"}},
			want:  []string{`"basicauth"`, `"conflict"`, "--basic-auth"},
		},
		{
			name:  "wrong sha256",
			specs: []Spec{{Name: "basicauth", Path: testBin, SHA256: strings.Repeat("ab", 32)}},
			want:  []string{`plugin "basicauth": checksum mismatch for ` + testBin + `: the file's sha256 is not the configured one`},
		},
		{
			name:  "missing sha256",
			specs: []Spec{{Name: "basicauth", Path: testBin}},
			want:  []string{`plugin "basicauth"`, "sha256 is required"},
		},
		{
			name:  "configure error",
			specs: []Spec{{Name: "basicauth", Config: map[string]any{"realm": "x"}}},
			want:  []string{`plugin "basicauth"`, `unknown setting "realm"`},
		},
		{
			name:  "manifest names another plugin",
			specs: []Spec{{Name: "misnamed"}},
			want:  []string{`plugin "misnamed"`, `its manifest names it "other"`},
		},
		{
			name:  "bundled plugin that does not exist",
			specs: []Spec{{Name: "nosuch"}},
			want:  []string{`plugin "nosuch"`},
		},
		{
			name:  "third-party path given as the wrong plugin",
			specs: []Spec{{Name: "other", Path: testBin, SHA256: sum}},
			want:  []string{`plugin "other"`, `its manifest names it "basicauth"`},
		},
		{
			name:  "duplicate",
			specs: []Spec{{Name: "basicauth"}, {Name: "basicauth"}},
			want:  []string{`plugin "basicauth" is enabled twice`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.Bundled = bundled
			opts.StartTimeout = 5 * time.Second
			h, err := Start(context.Background(), tt.specs, opts)
			if err == nil {
				h.Close()
				t.Fatalf("Start succeeded, want an error containing %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	if n := countPluginProcesses(t); n != 0 {
		t.Errorf("%d plugin processes left after failed starts, want 0", n)
	}
}

func TestStartThirdParty(t *testing.T) {
	h, _ := startHost(t, []Spec{{Name: "basicauth", Path: testBin, SHA256: strings.ToUpper(fileSHA256(t, testBin))}}, Options{})
	c, err := h.Open(context.Background(), basicTunnel("t1", "ann:correct-horse"), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer c.Close()
	d, err := c.Check(get(basic("ann", "correct-horse")), client, nil)
	if err != nil || d.Respond {
		t.Errorf("Check = %+v, %v; want continue", d, err)
	}
}

func TestOpenRefusal(t *testing.T) {
	h, _ := startHost(t, []Spec{{Name: "basicauth"}, {Name: "misbehave"}}, Options{})
	tests := []struct {
		name   string
		values map[string]map[string][]string
		want   string
	}{
		{"short password", map[string]map[string][]string{"basicauth": {"basic-auth": {"ann:1234567"}}},
			`--basic-auth password for "ann" must be 8 to 128 characters (got 7)`},
		{"no colon", map[string]map[string][]string{"basicauth": {"basic-auth": {"ann"}}},
			`--basic-auth needs USER:PASSWORD (got no ":")`},
		{"escape sequences are stripped", map[string]map[string][]string{"misbehave": {"misbehave": {"refuse"}}},
			`--misbehave  [31mrefused [0m`},
		{"second plugin refuses", map[string]map[string][]string{
			"basicauth": {"basic-auth": {"ann:correct-horse"}},
			"misbehave": {"misbehave": {"refuse"}},
		}, `--misbehave  [31mrefused [0m`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := h.Open(context.Background(), httpTunnel("t1", tt.values), nil)
			if err == nil {
				c.Close()
				t.Fatal("Open succeeded, want a refusal")
			}
			if !usererr.Is(err) {
				t.Fatalf("error %v is not a user error", err)
			}
			if got := usererr.Message(err, ""); got != tt.want {
				t.Errorf("message = %q, want %q", got, tt.want)
			}
		})
	}
	for _, p := range h.plugins {
		if n := len(p.tunnels); n != 0 {
			t.Errorf("plugin %s still has %d tunnels registered after refusals", p.spec.Name, n)
		}
	}
}

func TestCheckAllowDeny(t *testing.T) {
	h, _ := startHost(t, []Spec{{Name: "basicauth"}}, Options{})
	c, err := h.Open(context.Background(), basicTunnel("t1", "ann:correct-horse", "bob:battery-staple"), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer c.Close()
	if got := c.Protection(); len(got) != 1 || got[0] != "basic auth (2 users)" {
		t.Errorf("Protection = %q, want [basic auth (2 users)]", got)
	}
	if c.Empty() {
		t.Error("Empty() = true for a basic-auth chain")
	}
	tests := []struct {
		name     string
		auth     string
		wantUser string
	}{
		{"no credentials", "", ""},
		{"wrong password", basic("ann", "wrong-horse"), ""},
		{"malformed", "Basic %%%", ""},
		{"ann", basic("ann", "correct-horse"), "ann"},
		{"bob", basic("bob", "battery-staple"), "bob"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(tt.auth)
			d, err := c.Check(r, client, &sdk.TLSFacts{ServerName: "t1.localhost", Version: 0x0304})
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if tt.wantUser == "" {
				if !d.Respond || d.Status != 401 || d.Header.Get("Www-Authenticate") != `Basic realm="sshgress", charset="UTF-8"` {
					t.Errorf("decision = %+v, want 401 with the Basic challenge", d)
				}
				return
			}
			if d.Respond {
				t.Fatalf("decision = %+v, want continue", d)
			}
			if d.Identity == nil || d.Identity.ID != tt.wantUser {
				t.Errorf("identity = %+v, want %q", d.Identity, tt.wantUser)
			}
			d.Apply(r)
			if got := r.Header.Get("Authorization"); got != "" {
				t.Errorf("Authorization after Apply = %q, want removed", got)
			}
		})
	}
}

func TestEmptyChain(t *testing.T) {
	h, _ := startHost(t, []Spec{{Name: "basicauth"}}, Options{})
	c, err := h.Open(context.Background(), httpTunnel("t1", nil), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer c.Close()
	if !c.Empty() || len(c.Protection()) != 0 {
		t.Errorf("chain without flags: Empty=%v Protection=%q, want true and none", c.Empty(), c.Protection())
	}
	if d, err := c.Check(get(""), client, nil); err != nil || d.Respond {
		t.Errorf("Check on an empty chain = %+v, %v; want continue", d, err)
	}
	if h.Calls() != 0 {
		t.Errorf("Calls = %d, want 0", h.Calls())
	}
}

func TestCheckCache(t *testing.T) {
	h, _ := startHost(t, []Spec{{Name: "basicauth"}}, Options{})
	c, err := h.Open(context.Background(), basicTunnel("t1", "ann:correct-horse"), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer c.Close()
	steps := []struct {
		auth      string
		wantCalls uint64
		wantAllow bool
	}{
		{basic("ann", "correct-horse"), 1, true},
		{basic("ann", "correct-horse"), 1, true}, // cached
		{basic("ann", "wrong-horse!"), 2, false},
		{basic("ann", "wrong-horse!"), 2, false}, // denials are cached too
		{"", 3, false},
		{basic("ann", "correct-horse"), 3, true},
	}
	for i, s := range steps {
		d, err := c.Check(get(s.auth), client, nil)
		if err != nil {
			t.Fatalf("step %d: Check: %v", i, err)
		}
		if d.Respond == s.wantAllow {
			t.Errorf("step %d: respond = %v, want %v", i, d.Respond, !s.wantAllow)
		}
		if got := h.Calls(); got != s.wantCalls {
			t.Errorf("step %d: Calls = %d, want %d", i, got, s.wantCalls)
		}
	}
	// A cached verdict must not be changed by a caller editing a decision.
	d, _ := c.Check(get(""), client, nil)
	d.Header.Set("Www-Authenticate", "tampered")
	d, _ = c.Check(get(""), client, nil)
	if got := d.Header.Get("Www-Authenticate"); got == "tampered" {
		t.Error("editing a decision changed the cached verdict")
	}
}

func TestCheckFailsClosed(t *testing.T) {
	h, _ := startHost(t, []Spec{{Name: "misbehave"}}, Options{CallTimeout: 150 * time.Millisecond})
	tests := []struct {
		mode string
		want string
	}{
		{"slow", "no answer within 150ms"},
		{"status", "status 42 is outside 100-599"},
		{"empty", "neither continue nor respond"},
		{"panic", "panicked"},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			c, err := h.Open(context.Background(), httpTunnel(tt.mode, map[string]map[string][]string{"misbehave": {"misbehave": {tt.mode}}}), nil)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer c.Close()
			start := time.Now()
			d, err := c.Check(get(""), client, nil)
			elapsed := time.Since(start)
			if err == nil {
				t.Fatalf("Check = %+v, want an error (fail closed)", d)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), `plugin "misbehave"`) {
				t.Errorf("error %q does not name the plugin and %q", err, tt.want)
			}
			if elapsed > time.Second {
				t.Errorf("Check took %v, want about the call timeout", elapsed)
			}
		})
	}
}

func TestContinueEditsAndCacheWithoutHeaders(t *testing.T) {
	h, _ := startHost(t, []Spec{{Name: "basicauth"}, {Name: "misbehave"}}, Options{})
	c, err := h.Open(context.Background(), httpTunnel("t1", map[string]map[string][]string{
		"basicauth": {"basic-auth": {"ann:correct-horse"}},
		"misbehave": {"misbehave": {"ok"}},
	}), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer c.Close()
	if got := c.Protection(); len(got) != 2 || got[0] != "basic auth (1 user)" || got[1] != "test ok" {
		t.Errorf("Protection = %q, want basicauth's line then misbehave's", got)
	}
	for i := range 3 {
		r := get(basic("ann", "correct-horse"))
		d, err := c.Check(r, client, nil)
		if err != nil || d.Respond {
			t.Fatalf("request %d: Check = %+v, %v; want continue", i, d, err)
		}
		d.Apply(r)
		if r.Header.Get("Authorization") != "" || r.Header.Get("X-Test") != "ok" {
			t.Errorf("request %d: headers after Apply = %v, want Authorization removed and X-Test set", i, r.Header)
		}
	}
	if got := h.Calls(); got != 2 {
		t.Errorf("Calls = %d, want 2 (one per plugin, then cached)", got)
	}
}

func TestRestartAfterKill(t *testing.T) {
	h, logs := startHost(t, []Spec{{Name: "basicauth"}}, Options{})
	var mu sync.Mutex
	var lines []string
	notify := func(s string) {
		mu.Lock()
		lines = append(lines, s)
		mu.Unlock()
	}
	c, err := h.Open(context.Background(), basicTunnel("t1", "ann:correct-horse"), notify)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer c.Close()
	good := func() (Decision, error) { return c.Check(get(basic("ann", "correct-horse")), client, nil) }
	if d, err := good(); err != nil || d.Respond {
		t.Fatalf("Check before kill = %+v, %v; want continue", d, err)
	}
	oldPID := h.plugins["basicauth"].cur.Load().pid
	if err := syscall.Kill(oldPID, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d: %v", oldPID, err)
	}
	killed := time.Now()

	// Fail closed while it is down (the cache is void after a crash).
	sawError := false
	for time.Since(killed) < 2*time.Second {
		d, err := good()
		if err != nil {
			sawError = true
			break
		}
		if d.Respond {
			t.Fatalf("Check after kill answered %d, want an error or continue", d.Status)
		}
		time.Sleep(2 * time.Millisecond)
	}
	if !sawError {
		t.Error("Check never failed while the plugin was down")
	}
	// Back within 2 s, with the tunnel replayed (no new Open).
	var lastErr error
	for {
		d, err := good()
		if err == nil && !d.Respond {
			break
		}
		lastErr = err
		if time.Since(killed) > 2*time.Second {
			t.Fatalf("plugin not serving 2s after kill -9: last %+v, %v", d, lastErr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("serving again %v after kill -9", time.Since(killed))
	if d, err := c.Check(get(basic("ann", "nope-nope")), client, nil); err != nil || !d.Respond || d.Status != 401 {
		t.Errorf("wrong password after restart = %+v, %v; want 401", d, err)
	}

	newPID := h.plugins["basicauth"].cur.Load().pid
	if newPID == oldPID || processAlive(oldPID) {
		t.Errorf("old pid %d alive=%v, new pid %d; want a new process and the old one gone", oldPID, processAlive(oldPID), newPID)
	}
	if n := countPluginProcesses(t); n != 1 {
		t.Errorf("%d plugin processes after restart, want exactly 1", n)
	}
	mu.Lock()
	got := strings.Join(lines, "\n")
	mu.Unlock()
	for _, want := range []string{"basicauth plugin stopped", "basicauth plugin restarted; protection restored"} {
		if !strings.Contains(got, want) {
			t.Errorf("notify lines %q lack %q", got, want)
		}
	}
	for _, want := range []string{"plugin process exited; restarting it", "plugin restarted"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
	if strings.Contains(logs.String(), "correct-horse") {
		t.Error("log contains a password")
	}
}

func TestCloseKillsProcesses(t *testing.T) {
	h, _ := startHost(t, []Spec{{Name: "basicauth"}, {Name: "misbehave"}}, Options{})
	c, err := h.Open(context.Background(), basicTunnel("t1", "ann:correct-horse"), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	var pids []int
	for _, p := range h.plugins {
		pids = append(pids, p.cur.Load().pid)
	}
	if n := countPluginProcesses(t); n != 2 {
		t.Errorf("%d plugin processes, want 2", n)
	}
	if err := h.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := h.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for _, pid := range pids {
		if processAlive(pid) {
			t.Errorf("plugin pid %d alive after Close", pid)
		}
	}
	if _, err := c.Check(get(basic("ann", "correct-horse")), client, nil); err == nil {
		t.Error("Check after Close succeeded, want fail closed")
	}
	c.Close()
	c.Close()
	if _, err := h.Open(context.Background(), basicTunnel("t2", "ann:correct-horse"), nil); err == nil {
		t.Error("Open after Close succeeded")
	}
}

// TestNoOrphans kills -9 a process running a host and checks that the
// kernel takes its plugin down with it (parent-death signal).
func TestNoOrphans(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a helper process")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PLUGINHOST_ORPHAN_HELPER="+testBin)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("read plugin pid from helper: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("helper printed %q, want a pid", line)
	}
	if !processAlive(pid) {
		t.Fatalf("plugin pid %d not alive before the host is killed", pid)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	deadline := time.Now().Add(2 * time.Second)
	for processAlive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("plugin pid %d outlived its killed host", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// orphanHelper runs in a child test process: it starts a host, prints the
// plugin's pid and waits to be killed.
func orphanHelper() {
	bin := os.Getenv("PLUGINHOST_ORPHAN_HELPER")
	h, err := Start(context.Background(), []Spec{{Name: "basicauth"}}, Options{
		Bundled: func(name string) *exec.Cmd { return exec.Command(bin, "plugin", name) },
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(h.plugins["basicauth"].cur.Load().pid)
	time.Sleep(30 * time.Second)
	h.Close()
	os.Exit(0)
}

func TestBackoff(t *testing.T) {
	want := []time.Duration{0, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, 1600 * time.Millisecond, 3200 * time.Millisecond, 5 * time.Second, 5 * time.Second}
	for n, w := range want {
		if got := backoff(n); got != w {
			t.Errorf("backoff(%d) = %v, want %v", n, got, w)
		}
	}
}

func TestUserText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"basic auth (2 users)", "basic auth (2 users)"},
		{"a\nb\r\x1b[2Jc", "a b  [2Jc"},
		{strings.Repeat("é", 300), strings.Repeat("é", 256) + "…"},
		{"  ", ""},
	}
	for _, tt := range tests {
		if got := userText(tt.in); got != tt.want {
			t.Errorf("userText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	if err != nil {
		return !errors.Is(err, syscall.ESRCH)
	}
	// A zombie still answers signal 0; it is not running.
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

// countPluginProcesses counts this process's living children that run the
// test plugin executable.
func countPluginProcesses(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	self := os.Getpid()
	n := 0
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(fields) < 2 || fields[0] == "Z" || fields[1] != strconv.Itoa(self) {
			continue
		}
		if exe, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "exe")); err == nil && exe == testBin {
			n++
		}
	}
	return n
}
