package cluster

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sshgress/sshgress/e2e"

	"github.com/sshgress/sshgress/core/route"
)

// etcdServer is a real etcd (Debian's etcd-server) a test started on free
// loopback ports with its own data directory.
type etcdServer struct {
	t          testing.TB
	bin, dir   string
	clientURL  string
	peerURL    string
	mu         sync.Mutex
	cmd        *exec.Cmd
	waited     chan struct{}
	log        *bytes.Buffer
	stopOnFail sync.Once
}

// freePort returns a loopback port nobody listens on right now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startEtcd starts etcd and waits until it is healthy; cleanup kills it.
func startEtcd(t testing.TB) *etcdServer {
	t.Helper()
	bin := e2e.RequireTool(t, "etcd", "etcd-server")
	e := &etcdServer{
		t: t, bin: bin, dir: filepath.Join(t.TempDir(), "etcd"),
		clientURL: "http://127.0.0.1:" + strconv.Itoa(freePort(t)),
		peerURL:   "http://127.0.0.1:" + strconv.Itoa(freePort(t)),
	}
	e.start()
	t.Cleanup(func() {
		e.kill()
		if t.Failed() {
			e.mu.Lock()
			t.Logf("etcd log:\n%s", e.log)
			e.mu.Unlock()
		}
	})
	return e
}

// start runs etcd on e's ports and data directory and waits until healthy.
func (e *etcdServer) start() {
	e.t.Helper()
	cmd := exec.Command(e.bin,
		"--name", "test",
		"--data-dir", e.dir,
		"--listen-client-urls", e.clientURL,
		"--advertise-client-urls", e.clientURL,
		"--listen-peer-urls", e.peerURL,
		"--initial-advertise-peer-urls", e.peerURL,
		"--initial-cluster", "test="+e.peerURL,
		"--log-level", "warn",
	)
	log := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		e.t.Fatalf("start etcd: %v", err)
	}
	waited := make(chan struct{})
	go func() { cmd.Wait(); close(waited) }()
	e.mu.Lock()
	e.cmd, e.waited, e.log = cmd, waited, log
	e.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	client := &http.Client{Timeout: 500 * time.Millisecond}
	for {
		resp, err := client.Get(e.clientURL + "/health")
		if err == nil {
			var b bytes.Buffer
			b.ReadFrom(resp.Body)
			resp.Body.Close()
			if bytes.Contains(b.Bytes(), []byte(`"health":"true"`)) {
				return
			}
		}
		select {
		case <-waited:
			e.t.Fatalf("etcd exited at start:\n%s", log)
		default:
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("etcd not healthy within 10 s (last: %v):\n%s", err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill stops etcd with SIGKILL and waits for it to exit.
func (e *etcdServer) kill() {
	e.mu.Lock()
	cmd, waited := e.cmd, e.waited
	e.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	<-waited
}

// testNode is one edge node's registry in a test, with what its callbacks
// received.
type testNode struct {
	*Registry
	mu       sync.Mutex
	taken    []route.Entry
	lost     []route.Entry
	takenNow chan struct{}
}

// newNode starts a Registry named node on e under prefix; cleanup closes
// it. change adjusts its config.
func newNode(t testing.TB, e *etcdServer, prefix, node string, change func(*Config)) *testNode {
	t.Helper()
	n := &testNode{takenNow: make(chan struct{}, 16)}
	cfg := Config{
		Endpoints: []string{e.clientURL}, Node: node, Prefix: prefix,
		OnTakenOver: func(es []route.Entry) {
			n.mu.Lock()
			n.taken = append(n.taken, es...)
			n.mu.Unlock()
			n.takenNow <- struct{}{}
		},
		OnLost: func(es []route.Entry) {
			n.mu.Lock()
			n.lost = append(n.lost, es...)
			n.mu.Unlock()
		},
	}
	if change != nil {
		change(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := New(ctx, cfg)
	if err != nil {
		t.Fatalf("New(%s): %v", node, err)
	}
	n.Registry = r
	t.Cleanup(func() { r.Close() })
	return n
}

// abandon stops r the way kill -9 would: its goroutines and connection
// end, its lease is not revoked.
func (r *Registry) abandon() {
	r.closeOnce.Do(func() {
		r.cancel()
		r.wg.Wait()
		r.cli.Close()
	})
}

// testPrefix is a key prefix of its own for one test.
func testPrefix(t testing.TB) string {
	return fmt.Sprintf("/sshgress-test/%s/%d/", t.Name(), time.Now().UnixNano())
}

// eventually polls cond every 20 ms until it holds or within passes.
func eventually(within time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	for {
		if cond() {
			return time.Since(start), true
		}
		if time.Since(start) > within {
			return time.Since(start), false
		}
		time.Sleep(20 * time.Millisecond)
	}
}
