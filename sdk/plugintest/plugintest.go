// Package plugintest lets a plugin author test an sshgress plugin the way
// the edge talks to it: over real gRPC through go-plugin.
//
// Start serves the plugin inside the test process (go-plugin's test mode:
// ServeTestConfig and ReattachConfig), so tests are fast and the race
// detector and coverage see the plugin's code. Exec runs a built plugin
// executable as a child process, exactly as the edge does (handshake,
// AutoMTLS, empty environment), for end-to-end tests; Build compiles one.
//
//	func TestCheck(t *testing.T) {
//		h := plugintest.Start(t, myplugin.New())
//		if err := h.Configure(nil); err != nil { t.Fatal(err) }
//		if _, err := h.Open("t1", map[string][]string{"my-flag": {"x"}}); err != nil { t.Fatal(err) }
//		v, err := h.Check(plugintest.NewRequest("t1", "GET", "https://app.localhost/"))
//		...
//	}
package plugintest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"

	"github.com/sshgress/sshgress/sdk"
	"github.com/sshgress/sshgress/sdk/host"
)

// Harness is a connection to one plugin, served in-process (Start) or as a
// child process (Exec). It is closed when the test ends.
type Harness struct {
	// CallTimeout bounds every call to the plugin. Start and Exec set it to
	// 5 s, generous enough for the race detector; the edge itself gives
	// Check 250 ms by default.
	CallTimeout time.Duration

	t        testing.TB
	client   *plugin.Client
	proto    plugin.ClientProtocol
	rpc      *host.Client
	manifest sdk.Manifest
	dataDir  string
	served   []string // the last Configure answer's ServedHosts
	stop     func()
	once     sync.Once
}

// Start serves p inside the test process through go-plugin's test mode and
// connects to it over gRPC. It fails the test if p's manifest is invalid.
func Start(t testing.TB, p sdk.Plugin) *Harness {
	t.Helper()
	out := &testWriter{t: t}
	ctx, cancel := context.WithCancel(context.Background())
	reattach := make(chan *plugin.ReattachConfig, 1)
	closed := make(chan struct{})

	logger := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := sdk.ServeConfig(p, logger)
	cfg.Logger = hclogTo(out, "plugin-server")
	cfg.Test = &plugin.ServeTestConfig{Context: ctx, ReattachConfigCh: reattach, CloseCh: closed}
	go plugin.Serve(cfg)

	var rc *plugin.ReattachConfig
	select {
	case rc = <-reattach:
		// go-plugin's default reattach waits on a process ID, which here
		// is the test process itself; wait for the in-process server.
		rc.ReattachFunc = func() (runner.AttachedRunner, error) { return inProcess(closed), nil }
	case <-closed:
		cancel()
		t.Fatal("plugintest: plugin server stopped before it was ready")
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("plugintest: plugin server not ready within 10s")
	}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  host.Handshake(),
		Plugins:          host.PluginSet(),
		Reattach:         rc,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           hclogTo(out, "plugin-client"),
	})
	h := &Harness{t: t, client: client}
	h.stop = func() {
		// In test mode Kill leaves the connection open; close it, which
		// also asks the server to stop.
		// Cancelling the server's context while that shutdown is under way
		// races inside go-plugin, so cancel only if it does not finish.
		if h.proto != nil {
			_ = h.proto.Close()
			select {
			case <-closed:
			case <-time.After(5 * time.Second):
			}
		}
		client.Kill()
		cancel()
		select {
		case <-closed:
		case <-time.After(5 * time.Second):
		}
		out.close()
	}
	h.connect()
	return h
}

// inProcess is the runner of a plugin served in this process: it has
// stopped when the server's close channel is closed.
type inProcess <-chan struct{}

func (r inProcess) Wait(ctx context.Context) error {
	select {
	case <-r:
	case <-ctx.Done():
	}
	return nil
}

func (r inProcess) Kill(context.Context) error { return nil }
func (r inProcess) ID() string                 { return "in-process" }
func (r inProcess) PluginToHost(n, a string) (string, string, error) {
	return n, a, nil
}
func (r inProcess) HostToPlugin(n, a string) (string, string, error) {
	return n, a, nil
}

// Exec starts the plugin executable at path as a child process, the way the
// edge does: go-plugin handshake, gRPC only, AutoMTLS and no inherited
// environment. Use it for end-to-end tests of a built binary (see Build).
func Exec(t testing.TB, path string, args ...string) *Harness {
	t.Helper()
	out := &testWriter{t: t}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  host.Handshake(),
		Plugins:          host.PluginSet(),
		Cmd:              exec.Command(path, args...),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		SkipHostEnv:      true,
		StartTimeout:     10 * time.Second,
		Logger:           hclogTo(out, "plugin"),
	})
	h := &Harness{t: t, client: client, stop: func() {
		client.Kill()
		out.close()
	}}
	h.connect()
	return h
}

func (h *Harness) connect() {
	h.t.Helper()
	h.CallTimeout = 5 * time.Second
	h.dataDir = h.t.TempDir()
	h.t.Cleanup(h.Close)
	proto, err := h.client.Client()
	if err != nil {
		h.Close()
		h.t.Fatalf("plugintest: connect to plugin: %v", err)
	}
	h.proto = proto
	raw, err := proto.Dispense(host.PluginKey)
	if err != nil {
		h.Close()
		h.t.Fatalf("plugintest: dispense plugin: %v", err)
	}
	h.rpc = raw.(*host.Client)
	ctx, cancel := h.ctx()
	defer cancel()
	m, err := h.rpc.Describe(ctx)
	if err != nil {
		h.Close()
		h.t.Fatalf("plugintest: describe: %v", err)
	}
	if err := m.Validate(); err != nil {
		h.Close()
		h.t.Fatalf("plugintest: %v", err)
	}
	h.manifest = m
}

func (h *Harness) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), h.CallTimeout)
}

// Close disconnects from the plugin and stops it. It is idempotent and
// runs automatically when the test ends.
func (h *Harness) Close() { h.once.Do(h.stop) }

// Client returns the underlying gRPC client, as the edge uses it.
func (h *Harness) Client() *host.Client { return h.rpc }

// PID returns the plugin's process ID: the test process itself for Start.
func (h *Harness) PID() int {
	if rc := h.client.ReattachConfig(); rc != nil {
		return rc.Pid
	}
	return 0
}

// Manifest returns the manifest the plugin described, as received over
// gRPC (with APIVersion and HTTPMiddleware filled in by the SDK).
func (h *Harness) Manifest() sdk.Manifest { return h.manifest }

// Configure configures the plugin with section as its config section, base
// domain "localhost" and a fresh temporary data directory.
func (h *Harness) Configure(section map[string]any) error {
	return h.ConfigureWith(sdk.Config{Section: section, BaseDomain: "localhost", DataDir: h.dataDir})
}

// ConfigureWith configures the plugin with cfg (cfg.Logger is ignored).
func (h *Harness) ConfigureWith(cfg sdk.Config) error {
	ctx, cancel := h.ctx()
	defer cancel()
	res, err := h.rpc.ConfigureResult(ctx, cfg)
	if err == nil {
		h.served = res.ServedHosts
	}
	return err
}

// ServedHosts returns the hosts the plugin said it serves in its answer
// to the last successful Configure (sdk.HostServer), as received.
func (h *Harness) ServedHosts() []string { return h.served }

// Open opens an http tunnel with the given ID and flag values, the public
// host "<id>.localhost". A refusal is a *sdk.UserError (see
// sdk.AsUserError).
func (h *Harness) Open(id string, values map[string][]string) (sdk.OpenResult, error) {
	return h.OpenTunnel(sdk.Tunnel{
		ID:         id,
		Account:    "test",
		Command:    "http",
		Host:       id + ".localhost",
		URL:        "https://" + id + ".localhost",
		RemotePort: 443,
		Values:     values,
	})
}

// OpenTunnel opens t in the plugin. Static rules in the answer are
// validated the way the edge does (sdk.StaticRules.Validate): invalid
// ones are returned as an error.
func (h *Harness) OpenTunnel(t sdk.Tunnel) (sdk.OpenResult, error) {
	ctx, cancel := h.ctx()
	defer cancel()
	res, err := h.rpc.OpenTunnel(ctx, t)
	if err == nil && res.Rules != nil {
		if verr := res.Rules.Validate(); verr != nil {
			return res, fmt.Errorf("plugintest: open tunnel: the edge would refuse these rules: %w", verr)
		}
	}
	return res, err
}

// CloseTunnel closes the tunnel with the given ID in the plugin.
func (h *Harness) CloseTunnel(id string) error {
	ctx, cancel := h.ctx()
	defer cancel()
	return h.rpc.CloseTunnel(ctx, id)
}

// Check asks the plugin about req and validates the verdict the way the
// edge does: an invalid verdict is returned as an error.
func (h *Harness) Check(req *sdk.Request) (sdk.Verdict, error) {
	ctx, cancel := h.ctx()
	defer cancel()
	v, err := h.rpc.Check(ctx, req)
	if err != nil {
		return sdk.Verdict{}, err
	}
	if err := v.Validate(); err != nil {
		return v, fmt.Errorf("plugintest: the edge would answer 503: %w", err)
	}
	return v, nil
}

// ReviewResponse asks a plugin that reviews responses (sdk.ResponseReviewer)
// for edits of head and validates them the way the edge does: invalid
// edits are returned as an error.
func (h *Harness) ReviewResponse(head *sdk.ResponseHead) (sdk.ResponseEdits, error) {
	ctx, cancel := h.ctx()
	defer cancel()
	e, err := h.rpc.ReviewResponse(ctx, head)
	if err != nil {
		return sdk.ResponseEdits{}, err
	}
	if err := e.Validate(); err != nil {
		return e, fmt.Errorf("plugintest: the edge would answer 503: %w", err)
	}
	return e, nil
}

// NewResponseHead returns the head of a response with status to a GET of
// target (an absolute URL, as for NewRequest) on tunnelID, with the given
// headers ("Name", "value" pairs). It panics on a malformed URL or an odd
// number of strings, which are bugs in the test.
func NewResponseHead(tunnelID, target string, status int, header ...string) *sdk.ResponseHead {
	req := NewRequest(tunnelID, http.MethodGet, target)
	if len(header)%2 != 0 {
		panic("plugintest: NewResponseHead: headers come in name, value pairs")
	}
	h := http.Header{}
	for i := 0; i < len(header); i += 2 {
		h.Add(header[i], header[i+1])
	}
	return &sdk.ResponseHead{TunnelID: tunnelID, Method: req.Method, Host: req.Host, Path: req.Path, Status: status, Header: h}
}

// NewRequest returns a request head for tunnelID from a method and an
// absolute URL ("https://app.localhost/path?q=1"); an https URL sets TLS
// facts. The client address is 192.0.2.1:50000. It panics on a malformed
// URL, which is a bug in the test.
func NewRequest(tunnelID, method, target string) *sdk.Request {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		panic(fmt.Sprintf("plugintest: NewRequest: %q is not an absolute URL", target))
	}
	req := &sdk.Request{
		TunnelID:   tunnelID,
		Method:     method,
		Host:       u.Hostname(),
		Path:       u.EscapedPath(),
		RawQuery:   u.RawQuery,
		Header:     http.Header{},
		ClientAddr: netip.MustParseAddrPort("192.0.2.1:50000"),
	}
	if req.Path == "" {
		req.Path = "/"
	}
	if u.Scheme == "https" {
		req.TLS = &sdk.TLSFacts{ServerName: u.Hostname(), Version: 0x0304}
	}
	return req
}

// Build compiles the main package pkg (an import path or a ./relative
// directory, resolved from the test's working directory) into a temporary
// directory and returns the executable's path.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	path, err := BuildBinary(t.TempDir(), pkg)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// BuildBinary compiles the main package pkg into dir with the go command
// on PATH and returns the executable's path. It suits TestMain, where no
// testing.TB exists.
func BuildBinary(dir, pkg string) (string, error) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("plugintest: build %s: %w", pkg, err)
	}
	name := pkg
	if strings.HasPrefix(pkg, ".") {
		if abs, err := filepath.Abs(pkg); err == nil {
			name = abs
		}
	}
	name = filepath.Base(filepath.Clean(name))
	if name == "." || name == ".." || name == string(filepath.Separator) {
		name = "plugin"
	}
	out := filepath.Join(dir, name)
	cmd := exec.Command(gobin, "build", "-o", out, pkg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("plugintest: build %s: %w\n%s", pkg, err, stderr.String())
	}
	return out, nil
}

// testWriter sends whole lines to t.Log until closed.
type testWriter struct {
	mu     sync.Mutex
	t      testing.TB
	buf    []byte
	closed bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.t.Log(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 64<<10 {
		w.t.Log(string(w.buf))
		w.buf = w.buf[:0]
	}
	return len(p), nil
}

func (w *testWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.t.Log(string(w.buf))
	}
	w.closed = true
}

func hclogTo(w io.Writer, name string) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: name, Level: hclog.Warn, Output: w})
}
