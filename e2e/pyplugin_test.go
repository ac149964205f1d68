package e2e_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/config"
	"github.com/sshgress/sshgress/e2e"
	"github.com/sshgress/sshgress/sdk"
	"github.com/sshgress/sshgress/sdk/plugintest"
)

// python3 is the interpreter the Python example's executable names in its
// first line (build.py); the Debian packages below provide its modules.
const (
	python3         = "/usr/bin/python3"
	pythonPackages  = "python3-grpcio python3-grpc-tools python3-cryptography"
	pyExample       = "../sdk/examples/python-require-header"
	pyPluginName    = "require-header"
	pyRequireHeader = "X-Api-Key"
)

// requirePython returns when python3 can build and run the Python example
// plugin. Without it the test is skipped on a developer's machine but
// fails in CI, where .ci/run installs the packages (as e2e.RequireTool).
func requirePython(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, python3, "-c", "import grpc, grpc_tools.protoc, cryptography").CombinedOutput()
	if err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s cannot import grpc, grpc_tools and cryptography in CI (Debian packages %s): %v\n%s", python3, pythonPackages, err, out)
	}
	t.Skipf("no %s with grpc, grpc_tools and cryptography (apt-get install %s): %v", python3, pythonPackages, err)
}

// buildPython builds the Python example from src (its directory) into
// dir/require-header with its build.py, bounded at 2 minutes, and returns
// the executable's path and sha256 as the config names them.
func buildPython(t *testing.T, src, dir string) (string, [sha256.Size]byte) {
	t.Helper()
	plugin := filepath.Join(dir, pyPluginName)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, python3, filepath.Join(src, "build.py"), "-o", plugin).CombinedOutput(); err != nil {
		t.Fatalf("build the Python plugin: %v\n%s", err, out)
	}
	data, err := os.ReadFile(plugin)
	if err != nil {
		t.Fatal(err)
	}
	return plugin, sha256.Sum256(data)
}

// TestPythonPluginContract runs the Python example the way the edge does
// (go-plugin's handshake with AutoMTLS, an empty environment) through
// sdk/plugintest, and checks its manifest, its refusals and its verdicts
// against the Go SDK's validation.
func TestPythonPluginContract(t *testing.T) {
	requirePython(t)
	plugin, _ := buildPython(t, pyExample, t.TempDir())
	h := plugintest.Exec(t, plugin)

	m := h.Manifest()
	if m.Name != pyPluginName || !m.HTTPMiddleware || len(m.Flags) != 1 {
		t.Fatalf("manifest %+v, want %s, an http middleware with one flag", m, pyPluginName)
	}
	if f := m.Flags[0]; f.Name != "require-header" || f.Type != sdk.FlagString || f.Repeatable || f.ValueName != "NAME" || !f.AppliesTo("http") || f.AppliesTo("tcp") {
		t.Errorf("flag %+v, want --require-header NAME, a string for http only", f)
	}
	if err := h.Configure(map[string]any{"extra": 1}); err == nil || !strings.Contains(err.Error(), `unknown setting 'extra'`) {
		t.Errorf("Configure with an unknown key: %v, want an error naming it", err)
	}
	if err := h.Configure(map[string]any{}); err != nil {
		t.Fatalf("Configure: %v", err)
	}

	for _, tc := range []struct{ name, value, want string }{
		{"space", "X Api", "--require-header needs a header name of letters, digits and dashes, at most 256 characters (e.g. X-Api-Key)"},
		{"colon", "X-Api-Key:", "--require-header needs a header name"},
		{"too long", strings.Repeat("x", 257), "--require-header needs a header name"},
		{"host", "host", "--require-header: Host is routed by the edge and every request has it; name another header"},
	} {
		t.Run("refuse "+tc.name, func(t *testing.T) {
			_, err := h.Open("bad", map[string][]string{"require-header": {tc.value}})
			msg, ok := sdk.AsUserError(err)
			if !ok || !strings.HasPrefix(msg, tc.want) {
				t.Errorf("Open with %q: %v, want the user error %q", tc.value, err, tc.want)
			}
		})
	}

	res, err := h.Open("t1", map[string][]string{"require-header": {"x-api-key"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Protection != "requires the X-Api-Key header" {
		t.Errorf("protection %q", res.Protection)
	}
	for _, tc := range []struct {
		name   string
		header []string // name, value pairs
		allow  bool
	}{
		{"absent", nil, false},
		{"empty", []string{"X-Api-Key", ""}, false},
		{"other header", []string{"X-Api-Kez", "k"}, false},
		{"present", []string{"X-Api-Key", "k"}, true},
	} {
		t.Run("check "+tc.name, func(t *testing.T) {
			req := plugintest.NewRequest("t1", "GET", "https://t1.localhost/")
			for i := 0; i+1 < len(tc.header); i += 2 {
				req.Header[tc.header[i]] = []string{tc.header[i+1]}
			}
			v, err := h.Check(req)
			if err != nil {
				t.Fatal(err)
			}
			if v.Cache == nil || len(v.Cache.DependsOn) != 1 || v.Cache.DependsOn[0] != "X-Api-Key" || v.Cache.TTL != 5*time.Minute {
				t.Errorf("cache hint %+v, want X-Api-Key for 5m", v.Cache)
			}
			if tc.allow {
				if v.Continue == nil {
					t.Fatalf("verdict %+v, want continue", v)
				}
				return
			}
			if v.Respond == nil || v.Respond.Status != 403 || string(v.Respond.Body) != "403 Forbidden: this endpoint requires the X-Api-Key header.\n" {
				t.Fatalf("verdict %+v, want 403 naming the header", v)
			}
		})
	}
	if _, err := h.Check(plugintest.NewRequest("nope", "GET", "https://nope.localhost/")); err == nil {
		t.Error("Check for a tunnel that is not open: no error, want one (the edge answers 503)")
	}
	if err := h.CloseTunnel("t1"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Check(plugintest.NewRequest("t1", "GET", "https://t1.localhost/")); err == nil {
		t.Error("Check after CloseTunnel: no error, want one")
	}
}

// TestPythonPlugin enables the Python example by path and checksum, as an
// operator would, and drives it through the real OpenSSH client and curl:
// --help lists its flag, a bad header name ends the session with the
// plugin's sentence, a request without the header gets its 403, one with
// it reaches the upstream. Killed, the plugin is handled like any
// other: 503 while it cannot answer, restarted, protection restored, the
// tunnel up.
func TestPythonPlugin(t *testing.T) {
	e2e.RequireSSH(t)
	e2e.RequireTool(t, "curl", "curl")
	requirePython(t)
	plugin, sum := buildPython(t, pyExample, t.TempDir())
	be := &counting{}
	port := serveBackend(t, be)
	edge := e2e.StartEdge(t, e2e.EdgeOptions{Configure: func(c *config.Config) {
		c.Plugins = map[string]config.Plugin{pyPluginName: {Path: plugin, SHA256: hex.EncodeToString(sum[:])}}
	}})
	key := e2e.NewKey(t, t.TempDir(), "id")

	help := edge.RunSSH(t, key, "v2@127.0.0.1", "http", "--help")
	if code := help.Wait(10 * time.Second); code != 0 {
		t.Fatalf("http --help: exit %d (-1: still running after 10s), want 0", code)
	}
	// The help wraps its text to the widest flag: compare words, not lines.
	if got := help.Stdout.String(); !strings.Contains(got, "--require-header NAME") || !strings.Contains(strings.Join(strings.Fields(got), " "), "Refuse requests that lack this header with 403.") {
		t.Errorf("http --help lacks the Python plugin's flag and help:\n%s", got)
	}

	bad := edge.RunSSH(t, key, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http", "--require-header", "X-Api:Key")
	if code := bad.Wait(10 * time.Second); code != 1 {
		t.Fatalf("--require-header X-Api:Key: exit %d (-1: still running after 10s), want 1", code)
	}
	if got := bad.Stderr.String(); !strings.Contains(got, "--require-header needs a header name of letters, digits and dashes") {
		t.Errorf("--require-header X-Api:Key: stderr %q lacks the plugin's sentence", got)
	}

	s := edge.RunSSH(t, key, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http", "--require-header", pyRequireHeader)
	url := s.URL(t)
	s.WaitOutput(t, "requires the X-Api-Key header", 5*time.Second)
	if got := curl(t, edge, url); got != 403 {
		t.Fatalf("curl without %s: %d, want 403", pyRequireHeader, got)
	}
	if status, body := edge.Get(t, url+"/"); status != 403 || body != "403 Forbidden: this endpoint requires the X-Api-Key header.\n" {
		t.Fatalf("GET without %s: %d %q, want the plugin's 403 body", pyRequireHeader, status, body)
	}
	if n := be.n.Load(); n != 0 {
		t.Fatalf("the upstream served %d requests without the header", n)
	}
	if got := curl(t, edge, url, "-H", pyRequireHeader+": k1"); got != 200 {
		t.Fatalf("curl with %s: %d, want 200", pyRequireHeader, got)
	}
	if n := be.n.Load(); n != 1 {
		t.Fatalf("the upstream served %d requests, want 1", n)
	}

	// The kernel runs the zipapp as "/usr/bin/python3 -I PATH".
	pids := e2e.Processes(python3, "-I", plugin)
	if len(pids) != 1 {
		t.Fatalf("%d Python plugin processes, want 1", len(pids))
	}
	syscall.Kill(pids[0], syscall.SIGSTOP)
	t.Cleanup(func() { syscall.Kill(pids[0], syscall.SIGCONT) })
	if !waitStopped(pids[0], 5*time.Second) {
		t.Fatal("the Python plugin's threads not all stopped 5s after SIGSTOP")
	}
	// A header value no verdict is cached for needs the plugin: 503.
	if got := curl(t, edge, url, "-H", pyRequireHeader+": k2"); got != 503 {
		t.Fatalf("curl while the plugin is stopped: %d, want 503", got)
	}
	syscall.Kill(pids[0], syscall.SIGKILL)
	s.WaitOutput(t, "restarted", 10*time.Second)
	if pids := e2e.Processes(python3, "-I", plugin); len(pids) != 1 {
		t.Errorf("%d Python plugin processes after the restart, want 1", len(pids))
	}
	if got := curl(t, edge, url, "-H", pyRequireHeader+": k3"); got != 200 {
		t.Errorf("curl with %s after the restart: %d, want 200", pyRequireHeader, got)
	}
	if got := curl(t, edge, url); got != 403 {
		t.Errorf("curl without %s after the restart: %d, want 403", pyRequireHeader, got)
	}
	select {
	case <-s.Done():
		t.Fatal("the tunnel's ssh session ended")
	default:
	}
}

// TestPythonPluginBadManifest: a Python plugin whose manifest is wrong
// stops the edge's start with a message naming the plugin and the fault,
// as a Go plugin's would: a name other than the config's key, and a flag
// name the SDK's manifest check refuses (the example with one word
// changed).
func TestPythonPluginBadManifest(t *testing.T) {
	requirePython(t)
	plugin, sum := buildPython(t, pyExample, t.TempDir())

	src := t.TempDir()
	for _, f := range []string{"build.py", "goplugin.proto", "require_header.py"} {
		data, err := os.ReadFile(filepath.Join(pyExample, f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "require_header.py" {
			data = []byte(strings.Replace(string(data), `FLAG = "require-header"`, `FLAG = "Require_Header"`, 1))
		}
		if err := os.WriteFile(filepath.Join(src, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// build.py finds plugin.proto at ../../proto/plugin/v1 from itself.
	proto, err := os.ReadFile("../sdk/proto/plugin/v1/plugin.proto")
	if err != nil {
		t.Fatal(err)
	}
	protoDir := filepath.Join(src, "..", "..", "proto", "plugin", "v1")
	if err := os.MkdirAll(protoDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(protoDir, "plugin.proto"), proto, 0o644); err != nil {
		t.Fatal(err)
	}
	badFlag, badSum := buildPython(t, src, t.TempDir())

	for _, tc := range []struct {
		name, key, path string
		sum             [sha256.Size]byte
		want            string
	}{
		{"name", "other-name", plugin, sum, `its manifest names it "require-header"`},
		{"flag", pyPluginName, badFlag, badSum, `flag name "Require_Header" must be lowercase letters, digits and dashes`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfgFile := filepath.Join(t.TempDir(), "edge.yaml")
			yaml := fmt.Sprintf("plugins:\n  %s:\n    path: %s\n    sha256: %q\n", tc.key, tc.path, hex.EncodeToString(tc.sum[:]))
			if err := os.WriteFile(cfgFile, []byte(yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			out := serveRefused(t, cfgFile)
			if !strings.Contains(out, fmt.Sprintf("plugin %q", tc.key)) || !strings.Contains(out, tc.want) {
				t.Errorf("output does not name plugin %q and %q:\n%s", tc.key, tc.want, out)
			}
		})
	}
}
