package sshserver

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"
)

// These tests drive the forward/exec/-N state machine with a Go SSH client,
// sending requests in orders OpenSSH does and does not.

// smClient is a client connection whose writes are counted, so a test can
// wait for a request to be on the wire before sending the next.
type smClient struct {
	*ssh.Client
	wc *writeCounter
}

func dialTest(t *testing.T, addr string) *smClient {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	wc := &writeCounter{Conn: nc}
	sc, chans, reqs, err := ssh.NewClientConn(wc, addr, &ssh.ClientConfig{
		User:            "v2",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), // test server on loopback
		Timeout:         5 * time.Second,
	})
	if err != nil {
		nc.Close()
		t.Fatal(err)
	}
	client := ssh.NewClient(sc, chans, reqs)
	t.Cleanup(func() { client.Close() })
	return &smClient{Client: client, wc: wc}
}

type fwdReply struct {
	ok      bool
	payload []byte
	err     error
}

// forward sends a tcpip-forward request and returns once it is written;
// its reply arrives on the channel.
func (c *smClient) forward(t *testing.T, addr string, port uint32) <-chan fwdReply {
	t.Helper()
	return c.request(t, "tcpip-forward", forwardPayload{addr, port})
}

func (c *smClient) request(t *testing.T, typ string, p forwardPayload) <-chan fwdReply {
	t.Helper()
	out := make(chan fwdReply, 1)
	before := c.wc.writes.Load()
	go func() {
		ok, payload, err := c.SendRequest(typ, true, ssh.Marshal(p))
		out <- fwdReply{ok, payload, err}
	}()
	waitFor(t, typ+" on the wire", func() bool { return c.wc.writes.Load() != before })
	return out
}

// forwardNoReply sends a tcpip-forward that wants no reply. The Go client
// waits for each wanted global reply before sending the next request, and
// the edge holds forward replies until the command: so only the last of
// several forwards before the exec can want a reply.
func (c *smClient) forwardNoReply(t *testing.T, addr string, port uint32) {
	t.Helper()
	if _, _, err := c.SendRequest("tcpip-forward", false, ssh.Marshal(forwardPayload{addr, port})); err != nil {
		t.Fatal(err)
	}
}

func awaitReply(t *testing.T, what string, ch <-chan fwdReply) fwdReply {
	t.Helper()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("%s: %v", what, r.err)
		}
		return r
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: no reply", what)
	}
	return fwdReply{}
}

// noReplyYet fails if ch already holds a reply.
func noReplyYet(t *testing.T, what string, ch <-chan fwdReply) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("%s was answered (%v) before the command arrived", what, r.ok)
	default:
	}
}

func (c *smClient) exec(t *testing.T, cmd string) (*ssh.Session, *syncBuffer) {
	t.Helper()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	sess.Stdout, sess.Stderr = out, out
	if cmd == "" {
		err = sess.Shell()
	} else {
		err = sess.Start(cmd)
	}
	if err != nil {
		t.Fatal(err)
	}
	return sess, out
}

func awaitExit(t *testing.T, sess *ssh.Session) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	select {
	case err := <-done:
		var exit *ssh.ExitError
		if errors.As(err, &exit) {
			return exit.ExitStatus()
		}
		if err != nil {
			t.Fatalf("session ended with %v", err)
		}
		return 0
	case <-time.After(5 * time.Second):
		t.Fatal("session did not end")
	}
	return 0
}

// execRefused runs cmd and checks the edge refuses it: the session says
// why (want) and exits 1, and the edge ends the connection.
func (c *smClient) execRefused(t *testing.T, cmd, want string) {
	t.Helper()
	sess, out := c.exec(t, cmd)
	if st := awaitExit(t, sess); st != 1 {
		t.Fatalf("exit status %d, want 1; session said %q", st, out.String())
	}
	if got := out.String(); !strings.Contains(got, want) {
		t.Fatalf("session said %q, want %q", got, want)
	}
	c.awaitClosed(t)
}

// awaitClosed waits for the edge to end the connection.
func (c *smClient) awaitClosed(t *testing.T) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		c.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the edge did not end the connection")
	}
}

// longHold makes the -N decision wait long enough that a test's exec
// always comes first.
func longHold(c *Config) { c.CommandWait = time.Minute }

func TestSeveralForwardsThenExec(t *testing.T) {
	addr := startTestServer(t, longHold)
	c := dialTest(t, addr)
	c.forwardNoReply(t, "a", 80)
	c.forwardNoReply(t, "b", 80)
	last := c.forward(t, "", 80)
	noReplyYet(t, "the last forward", last)
	_, out := c.exec(t, "http")
	if got := awaitReply(t, "the last forward", last); !got.ok {
		t.Fatalf("forward refused; session said %q", out.String())
	}
	waitFor(t, "the banner", func() bool { return strings.Count(out.String(), "Forwarding  http://idle.test") == 3 })
}

func TestExecBeforeForward(t *testing.T) {
	addr := startTestServer(t, longHold)
	c := dialTest(t, addr)
	// The command is refused: the edge ends the connection.
	c.execRefused(t, "http", "no -R forward was requested")
}

func TestNoCommand(t *testing.T) {
	t.Run("no session", func(t *testing.T) {
		addr := startTestServer(t, func(c *Config) { c.CommandWait = 50 * time.Millisecond })
		c := dialTest(t, addr)
		r := awaitReply(t, "forward", c.forward(t, "", 0))
		if !r.ok {
			t.Fatal("ssh -N forward refused")
		}
		var p struct{ Port uint32 }
		if err := ssh.Unmarshal(r.payload, &p); err != nil || p.Port != 80 {
			t.Fatalf("port-0 reply payload %v (%v), want port 80", r.payload, err)
		}
	})
	t.Run("session without command", func(t *testing.T) {
		addr := startTestServer(t, longHold)
		c := dialTest(t, addr)
		fr := c.forward(t, "", 80)
		_, out := c.exec(t, "") // shell request: the default command
		if r := awaitReply(t, "forward", fr); !r.ok {
			t.Fatalf("forward refused; session said %q", out.String())
		}
		waitFor(t, "the banner", func() bool { return strings.Contains(out.String(), "Forwarding  http://idle.test") })
	})
}

func TestCancelForward(t *testing.T) {
	addr := startTestServer(t, longHold)
	c := dialTest(t, addr)
	c.forwardNoReply(t, "a", 80)
	b := c.forward(t, "b", 80)
	_, out := c.exec(t, "http")
	if !awaitReply(t, "forward", b).ok {
		t.Fatalf("forward refused; session said %q", out.String())
	}
	cancel := func(name string) bool {
		return awaitReply(t, "cancel "+name, c.request(t, "cancel-tcpip-forward", forwardPayload{name, 80})).ok
	}
	if !cancel("a") {
		t.Fatal("cancelling a live forward was refused")
	}
	if cancel("a") {
		t.Fatal("cancelling a forward twice succeeded")
	}
	if cancel("c") {
		t.Fatal("cancelling a forward never made succeeded")
	}
	if !cancel("b") {
		t.Fatal("cancelling one forward took the other with it")
	}
}

func TestLateForwardRefusedOthersStay(t *testing.T) {
	addr := startTestServer(t, longHold, func(c *Config) { c.MaxForwards = 1 })
	c := dialTest(t, addr)
	first := c.forward(t, "a", 80)
	_, out := c.exec(t, "http")
	if !awaitReply(t, "first forward", first).ok {
		t.Fatalf("forward refused; session said %q", out.String())
	}
	if awaitReply(t, "second forward", c.forward(t, "b", 80)).ok {
		t.Fatal("a forward over MaxForwards was accepted")
	}
	waitFor(t, "the reason", func() bool {
		return strings.Contains(out.String(), "Could not add forward: too many -R forwards on one connection (the limit is 1)")
	})
	if !awaitReply(t, "cancel a", c.request(t, "cancel-tcpip-forward", forwardPayload{"a", 80})).ok {
		t.Fatal("the first forward did not stay after the second was refused")
	}
}

func TestExecAfterHoldDeadline(t *testing.T) {
	addr := startTestServer(t, func(c *Config) { c.CommandWait = 50 * time.Millisecond })
	c := dialTest(t, addr)
	if !awaitReply(t, "forward", c.forward(t, "a", 80)).ok {
		t.Fatal("ssh -N forward refused")
	}
	// The forward was published with the defaults; a command arriving
	// after that finds no forward left to decide: it is refused, and the
	// edge ends the connection.
	c.execRefused(t, "http", "no -R forward was requested")
}
