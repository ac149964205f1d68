package e2e_test

import (
	"fmt"
	"io"
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

	"github.com/sshgress/sshgress/e2e"
)

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

// getWithAuth GETs url with basic credentials and returns the status, the
// Retry-After header and up to 64 KiB of the body.
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
	cmd := exec.Command(own, "serve", "--ssh-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--https-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--data-dir", t.TempDir())
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
