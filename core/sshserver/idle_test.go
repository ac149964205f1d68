package sshserver

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"

	"github.com/sshgress/sshgress/core/command"
	"github.com/sshgress/sshgress/core/tunnel"
)

// fakeType publishes every forward at a fixed URL and serves nothing.
type fakeType struct{}

func (fakeType) Bind(_ context.Context, req *tunnel.BindRequest) (tunnel.Endpoint, error) {
	req.Forward.SetPublicPort(80)
	return fakeEndpoint{}, nil
}

type fakeEndpoint struct{}

func (fakeEndpoint) URL() string          { return "http://idle.test" }
func (fakeEndpoint) Port() uint32         { return 80 }
func (fakeEndpoint) Protection() []string { return nil }
func (fakeEndpoint) Close()               {}

// startTestServer runs a Server for anonymous users on loopback with the
// http command served by fakeType, and returns its address. opts adjust
// the Config before the server starts.
func startTestServer(t *testing.T, opts ...func(*Config)) string {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	host, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	cmds, err := command.NewSet(command.Options{}, command.Command{Name: "http", Summary: "Publish a local HTTP service"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		HostKey:        host,
		AllowAnonymous: true,
		Commands:       cmds,
		Types:          map[string]tunnel.EndpointType{"http": fakeType{}},
		Logger:         slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(l)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-served
	})
	return l.Addr().String()
}

// writeCounter counts writes to a connection.
type writeCounter struct {
	net.Conn
	writes atomic.Int64
}

func (w *writeCounter) Write(p []byte) (int, error) {
	n, err := w.Conn.Write(p)
	w.writes.Add(1)
	return n, err
}

// syncBuffer collects a session's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testTunnel is one client connection like `ssh -R 80:localhost:3000 edge http`.
type testTunnel struct {
	client *ssh.Client
	sess   *ssh.Session
	out    *syncBuffer
}

// openTunnel sends the forward, then opens the session and runs "http",
// as OpenSSH does, and waits for the forward's reply and the banner.
func openTunnel(t *testing.T, addr string) *testTunnel {
	t.Helper()
	c := dialTest(t, addr)
	// The edge relies on the forward arriving before the exec.
	replied := c.forward(t, "localhost", 80)
	sess, out := c.exec(t, "http")
	if r := awaitReply(t, "the forward", replied); !r.ok {
		t.Fatalf("forward refused; session said %q", out.String())
	}
	waitFor(t, "the banner", func() bool { return strings.Contains(out.String(), "Forwarding  http://idle.test") })
	return &testTunnel{client: c.Client, sess: sess, out: out}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// connGoroutines returns the stacks of running goroutines with a frame in
// this edge's core packages, except the accept loop and tests.
func connGoroutines() []string {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		// x/crypto's read loop reads through versionConn: its frame
		// makes no goroutine ours.
		frames := strings.ReplaceAll(g, "github.com/sshgress/sshgress/core/sshserver.(*versionConn)", "")
		if strings.Contains(frames, "github.com/sshgress/sshgress/core/") &&
			!strings.Contains(g, "sshserver.(*Server).Serve(") &&
			!strings.Contains(g, "testing.tRunner") {
			out = append(out, g)
		}
	}
	return out
}

// TestIdleTunnelGoroutines checks what an idle tunnel holds: its control
// loop and nothing else of ours (no session reader, reply sender or
// console writer once their work is done), plus x/crypto's own.
func TestIdleTunnelGoroutines(t *testing.T) {
	addr := startTestServer(t)
	const n = 4
	for range n {
		openTunnel(t, addr)
	}
	var gs []string
	for deadline := time.Now().Add(5 * time.Second); ; {
		gs = connGoroutines()
		if len(gs) == n || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(gs) != n {
		t.Fatalf("%d idle tunnels run %d goroutines of ours, want %d (one control loop each):\n\n%s", n, len(gs), n, strings.Join(gs, "\n\n"))
	}
	for _, g := range gs {
		if !strings.Contains(g, "sshserver.(*conn).control(") {
			t.Errorf("an idle tunnel runs a goroutine that is not its control loop:\n%s", g)
		}
	}
}

// TestSessionRequestsAfterCommand checks the control loop answers the
// session's requests once the command has arrived, in order.
func TestSessionRequestsAfterCommand(t *testing.T) {
	addr := startTestServer(t)
	tun := openTunnel(t, addr)
	tests := []struct {
		req  string
		want bool
	}{
		{"window-change", true},
		{"env", true},
		{"exec", false}, // one command per session
		{"x11-req", false},
		{"signal", true},
	}
	for _, tc := range tests {
		ok, err := tun.sess.SendRequest(tc.req, true, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.req, err)
		}
		if ok != tc.want {
			t.Errorf("%s: got %v, want %v", tc.req, ok, tc.want)
		}
	}
	// A subsystem after the command is refused, with the reason in the
	// session, which ends.
	ok, err := tun.sess.SendRequest("subsystem", true, ssh.Marshal(struct{ Name string }{"sftp"}))
	if err != nil || ok {
		t.Fatalf("subsystem: got %v, %v; want a refusal", ok, err)
	}
	done := make(chan error, 1)
	go func() { done <- tun.sess.Wait() }()
	select {
	case err := <-done:
		var exit *ssh.ExitError
		if !errors.As(err, &exit) || exit.ExitStatus() != 1 {
			t.Errorf("session ended with %v, want exit status 1", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("session did not end after a refused subsystem")
	}
	if got := tun.out.String(); !strings.Contains(got, "subsystems (such as sftp) are not available") {
		t.Errorf("session output %q lacks the subsystem message", got)
	}
}
