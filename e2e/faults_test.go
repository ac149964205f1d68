package e2e_test

import (
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/config"
	"github.com/sshgress/sshgress/e2e"
)

// waitStatus polls url until it answers want, or fails after d.
func waitStatus(t *testing.T, edge *e2e.Edge, url string, want int, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		st, _ := edge.Get(t, url)
		if st == want {
			return time.Since(start)
		}
		if time.Since(start) > d {
			t.Fatalf("%s: status %d after %s, want %d", url, st, d, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestClientKilledMidDownload: kill -9 the user's ssh while a visitor
// downloads. The visitor must see a failed transfer, never a complete one
// with a wrong body, and the route must be gone within 500 ms.
func TestClientKilledMidDownload(t *testing.T) {
	_, port := backend(t)
	edge := newEdge(t, nil)
	key := e2e.NewKey(t, t.TempDir(), "id")
	s := edge.RunSSH(t, key, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http")
	url := s.URL(t)
	n := int64(512 << 20)
	resp, err := edge.Client().Get(url + "/bytes?n=" + strconv.FormatInt(n, 10))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.CopyN(io.Discard, resp.Body, 1<<20); err != nil {
		t.Fatal(err)
	}
	s.Cmd.Process.Signal(syscall.SIGKILL)
	killed := time.Now()
	m, err := io.Copy(io.Discard, resp.Body)
	if err == nil && m+1<<20 == n {
		t.Fatal("the download completed although the tunnel died mid-way")
	}
	if err == nil {
		t.Fatalf("the visitor saw a clean end of body after %d of %d bytes", m+1<<20, n)
	}
	waitStatus(t, edge, url+"/", 404, 500*time.Millisecond-time.Since(killed))
}

// TestBlackholedClientDetected: kill -STOP the ssh client (its network
// black-holed): keepalives find it within their budget and free its route.
func TestBlackholedClientDetected(t *testing.T) {
	_, port := backend(t)
	interval := 300 * time.Millisecond
	edge := newEdge(t, func(c *config.Config) {
		c.SSH.KeepaliveInterval = interval
		c.SSH.KeepaliveCount = 3
	})
	key := e2e.NewKey(t, t.TempDir(), "id")
	s := edge.RunSSH(t, key, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http")
	url := s.URL(t)
	if st, _ := edge.Get(t, url+"/"); st != 200 {
		t.Fatalf("status %d", st)
	}
	s.Cmd.Process.Signal(syscall.SIGSTOP)
	defer s.Cmd.Process.Signal(syscall.SIGCONT)
	// Budget: count × interval of silence, plus one interval to notice.
	budget := 5 * interval
	took := waitStatus(t, edge, url+"/", 404, budget+time.Second)
	// Slack for a loaded CI machine: the budget itself is the figure.
	if took > budget+700*time.Millisecond {
		t.Errorf("route freed after %s, budget %s", took, budget)
	}
}

// TestGracefulShutdown sends SIGTERM to the real binary: users are told in
// their session, and the edge exits cleanly within its grace period.
func TestGracefulShutdown(t *testing.T) {
	_, port := backend(t)
	e2e.RequireSSH(t)
	bin := e2e.SharedBinary(t)
	dir := t.TempDir()
	cmd := exec.Command(bin, "serve", "--ssh-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--https-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--data-dir", dir)
	cmd.Env = append(os.Environ(), "SSHGRESS_LIMITS_SHUTDOWN_GRACE=3s")
	logs := &e2e.SyncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	var sshPort string
	deadline := time.Now().Add(10 * time.Second)
	for sshPort == "" {
		if time.Now().After(deadline) {
			t.Fatalf("edge did not start:\n%s", logs)
		}
		time.Sleep(20 * time.Millisecond)
		if _, rest, ok := strings.Cut(logs.String(), "edge started\" ssh=127.0.0.1:"); ok {
			sshPort, _, _ = strings.Cut(rest, " ")
		}
	}
	edge := &e2e.Edge{SSHPort: sshPort}
	key := e2e.NewKey(t, t.TempDir(), "id")
	s := edge.RunSSH(t, key, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http")
	s.URL(t)
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("edge exit: %v\n%s", err, logs)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("edge still running 5s after SIGTERM")
	}
	if code := s.Wait(5 * time.Second); code == 0 || code == -1 {
		t.Errorf("ssh exit %d, want a non-zero exit after the edge went away", code)
	}
	if !strings.Contains(s.Stderr.String(), "shutting down") {
		t.Errorf("the session was not told: stderr %q", s.Stderr)
	}
}
