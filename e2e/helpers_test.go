package e2e_test

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sshgress/sshgress/e2e"
)

// httpRefused runs ssh -R 80:localhost:port ... http args and checks that
// the edge refuses the tunnel: exit status 1, want in stderr, no banner.
func httpRefused(t *testing.T, edge *e2e.Edge, key *e2e.Key, port, want string, args ...string) {
	t.Helper()
	s := edge.RunSSH(t, key, append([]string{"-R", "80:localhost:" + port, "v2@127.0.0.1", "http"}, args...)...)
	if code := s.Wait(10 * time.Second); code != 1 {
		t.Fatalf("exit %d, want 1; stderr %q", code, s.Stderr)
	}
	if !strings.Contains(s.Stderr.String(), want) {
		t.Errorf("stderr %q lacks %q", s.Stderr, want)
	}
	if strings.Contains(s.Stdout.String(), "Forwarding") {
		t.Errorf("a tunnel was opened: stdout %q", s.Stdout)
	}
}

// httpHelpLists checks that http --help lists each of flags.
func httpHelpLists(t *testing.T, edge *e2e.Edge, key *e2e.Key, flags ...string) {
	t.Helper()
	help := edge.RunSSH(t, key, "v2@127.0.0.1", "http", "--help")
	if code := help.Wait(10 * time.Second); code != 0 {
		t.Fatalf("http --help: exit %d, stderr %q", code, help.Stderr)
	}
	for _, flag := range flags {
		if !strings.Contains(help.Stdout.String(), flag) {
			t.Errorf("http --help lacks %q:\n%s", flag, help.Stdout)
		}
	}
}

// serveBackend runs h as a local HTTP service and returns its port.
func serveBackend(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	return port
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// pipelined sends two requests in one write on one connection, the first
// with credentials and the second without, and returns both statuses.
func pipelined(t *testing.T, edge *e2e.Edge, host, creds string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", edge.HTTPAddr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET /one HTTP/1.1\r\nHost: %s\r\nAuthorization: Basic %s\r\n\r\nGET /two HTTP/1.1\r\nHost: %s\r\n\r\n", host, b64(creds), host)
	br := bufio.NewReader(c)
	var codes []string
	for range 2 {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("read pipelined response: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		codes = append(codes, fmt.Sprint(resp.StatusCode))
	}
	return strings.Join(codes, ",")
}

// traffic is real visitor traffic run beside an attack or fault: GETs of
// url by a few workers until Stop.
type traffic struct {
	served, failed atomic.Int64
	worst          atomic.Int64 // slowest request, ns
	stop           chan struct{}
	wg             sync.WaitGroup
}

func startTraffic(edge *e2e.Edge, url string, workers int) *traffic {
	tr := &traffic{stop: make(chan struct{})}
	for range workers {
		tr.wg.Add(1)
		go func() {
			defer tr.wg.Done()
			for {
				select {
				case <-tr.stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				start := time.Now()
				ok := false
				if resp, err := edge.Client().Get(url); err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					ok = err == nil && resp.StatusCode == 200
				}
				if d := int64(time.Since(start)); d > tr.worst.Load() {
					tr.worst.Store(d)
				}
				if ok {
					tr.served.Add(1)
				} else {
					tr.failed.Add(1)
				}
			}
		}()
	}
	return tr
}

// Stop ends the traffic and returns what it saw.
func (tr *traffic) Stop() (served, failed int64, worst time.Duration) {
	close(tr.stop)
	tr.wg.Wait()
	return tr.served.Load(), tr.failed.Load(), time.Duration(tr.worst.Load())
}

// runBounded runs cmd to its end, killed after d, and returns its
// combined output.
func runBounded(t *testing.T, cmd *exec.Cmd, d time.Duration) (string, error) {
	t.Helper()
	var out e2e.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.String(), err
	case <-time.After(d):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%s still running after %s:\n%s", cmd.Path, d, out.String())
		return "", nil
	}
}

func itoa(p uint32) string { return big.NewInt(int64(p)).String() }

// runSSHOnceAccepted starts ssh with args until a run stays connected for
// 2s: a key just written to the store is accepted once the directory has
// followed the store's watch. It fails after about 50 tries.
func runSSHOnceAccepted(t *testing.T, edge *e2e.Edge, key *e2e.Key, args ...string) *e2e.SSH {
	t.Helper()
	for try := 0; ; try++ {
		s := edge.RunSSH(t, key, args...)
		select {
		case <-s.Done():
			if try > 50 {
				t.Fatalf("the stored key is still refused:\n%s", s.Stderr)
			}
			time.Sleep(100 * time.Millisecond)
			continue
		case <-time.After(2 * time.Second):
		}
		return s
	}
}

// serveRefused runs the sshgress binary's serve with cfgFile on loopback
// ports and a fresh data directory, expecting the start to be refused: it
// fails the test unless the edge exits with a non-zero status within 30 s,
// and returns what it printed.
func serveRefused(t *testing.T, cfgFile string) string {
	t.Helper()
	cmd := exec.Command(e2e.SharedBinary(t), "serve", "--config", cfgFile, "--ssh-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--https-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--data-dir", t.TempDir())
	out, err := runBounded(t, cmd, 30*time.Second)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() <= 0 {
		t.Fatalf("edge with %s: %v, want a non-zero exit status; output:\n%s", cfgFile, err, out)
	}
	return out
}
