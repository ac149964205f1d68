package pluginhost

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

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
func startHost(t testing.TB, specs []Spec, opts Options) (*Host, *logBuffer) {
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
