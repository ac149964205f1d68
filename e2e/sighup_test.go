package e2e_test

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sshgress/sshgress/e2e"
)

// TestSIGHUPReload runs the real binary: SIGHUP after adding a key to the
// config file lets that key in without a restart while a tunnel opened
// before keeps serving; a broken file is rejected, logged, and changes
// nothing; removing the key ends its session.
func TestSIGHUPReload(t *testing.T) {
	_, port := backend(t)
	e2e.RequireSSH(t)
	dir := t.TempDir()
	ann, bob := e2e.NewKey(t, dir, "ann"), e2e.NewKey(t, dir, "bob")
	cfgFile := filepath.Join(dir, "sshgress.yaml")
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(cfgFile, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	annYAML := "accounts:\n  - name: ann\n    keys: [\"" + ann.AuthorizedKey + "\"]\n"
	bobYAML := "  - name: bob\n    keys: [\"" + bob.AuthorizedKey + "\"]\n"
	write(annYAML)
	he := startHUPEdge(t, cfgFile)
	edge, httpPort := &e2e.Edge{SSHPort: he.port("ssh")}, he.port("http")
	get := func(url string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://127.0.0.1:"+httpPort+"/", nil)
		req.Host = e2e.Host(url)
		c := &http.Client{Timeout: 5 * time.Second}
		resp, err := c.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	hup := he.hup
	annS := edge.RunSSH(t, ann, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http")
	annURL := annS.URL(t)

	write(annYAML + bobYAML)
	hup("config reloaded", 1)
	bobS := edge.RunSSH(t, bob, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http")
	if st := get(bobS.URL(t)); st != 200 {
		t.Errorf("bob's tunnel after SIGHUP: %d", st)
	}
	if st := get(annURL); st != 200 {
		t.Errorf("ann's tunnel from before SIGHUP: %d", st)
	}

	write("accounts: [this is not: valid yaml\n")
	hup("config reload rejected", 1)
	if st := get(annURL); st != 200 {
		t.Errorf("ann's tunnel after a broken file: %d", st)
	}
	select {
	case <-bobS.Done():
		t.Fatalf("a broken file ended bob's session:\n%s", bobS.Stderr)
	case <-time.After(300 * time.Millisecond):
	}

	write(annYAML)
	hup("config reloaded", 2)
	if code := bobS.Wait(5 * time.Second); code == -1 {
		t.Fatalf("bob's session still runs 5s after his key left the config file")
	}
	if st := get(annURL); st != 200 {
		t.Errorf("ann's tunnel after bob's removal: %d", st)
	}
}

// hupEdge is the real binary serving a config file, for SIGHUP tests.
type hupEdge struct {
	t    *testing.T
	cmd  *exec.Cmd
	logs *e2e.SyncBuffer
	// started is the "edge started" log line: its listeners' addresses.
	started string
}

// startHUPEdge runs `sshgress serve --config cfgFile` with every listener
// on a free loopback port and waits (bounded) until it has started.
func startHUPEdge(t *testing.T, cfgFile string) *hupEdge {
	t.Helper()
	cmd := exec.Command(e2e.SharedBinary(t), "serve", "--config", cfgFile, "--ssh-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--https-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--data-dir", t.TempDir())
	he := &hupEdge{t: t, cmd: cmd, logs: &e2e.SyncBuffer{}}
	cmd.Stderr = he.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for he.started == "" {
		if time.Now().After(deadline) {
			t.Fatalf("edge did not start:\n%s", he.logs)
		}
		time.Sleep(20 * time.Millisecond)
		for _, l := range he.logs.Lines() {
			if strings.Contains(l, "edge started\" ssh=") {
				he.started = l
			}
		}
	}
	return he
}

// port is the port of the listener the started line names key= (ssh,
// http, https, admin).
func (he *hupEdge) port(key string) string {
	he.t.Helper()
	_, rest, ok := strings.Cut(he.started, " "+key+"=127.0.0.1:")
	if !ok {
		he.t.Fatalf("no %s listener in %q", key, he.started)
	}
	p, _, _ := strings.Cut(rest, " ")
	return p
}

// hup sends SIGHUP and waits (bounded) until wantLog is in the log n times.
func (he *hupEdge) hup(wantLog string, n int) {
	he.t.Helper()
	he.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(he.logs.String(), wantLog) < n {
		if time.Now().After(deadline) {
			he.t.Fatalf("no %q in the log 10s after SIGHUP:\n%s", wantLog, he.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
