package e2e_test

import (
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/config"
	"github.com/sshgress/sshgress/core/relay"
	"github.com/sshgress/sshgress/e2e"
)

// loopNotice is what the owner's console says once a loop is refused.
const loopNotice = "its local target looks like this edge's own port "

// relayedLines counts the owner's console lines for connections the edge
// forwarded (one per forwarded-tcpip channel it opened, written when the
// connection ends).
func relayedLines(s *e2e.SSH) int {
	n := 0
	for _, l := range s.Stdout.Lines() {
		if strings.HasPrefix(l, "TCP ") {
			n++
		}
	}
	return n
}

// waitRelayed waits (bounded) until the console shows n relayed
// connections.
func waitRelayed(t *testing.T, s *e2e.SSH, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for relayedLines(s) < n {
		if time.Now().After(deadline) {
			t.Fatalf("console shows %d relayed connections, want %d:\n%s", relayedLines(s), n, s.Stdout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkLoop makes visits into a looping tunnel and checks each makes
// exactly hops channels, the owner is told once, and the edge still serves
// healthy.
func checkLoop(t *testing.T, s *e2e.SSH, port string, hops int, visit func(), healthy func()) {
	t.Helper()
	for visits := 1; visits <= 2; visits++ {
		visit()
		waitRelayed(t, s, visits*hops)
	}
	healthy()
	if n := relayedLines(s); n != 2*hops {
		t.Errorf("two visits into the loop made %d channels, want %d:\n%s", n, 2*hops, s.Stdout)
	}
	if n := strings.Count(s.Stdout.String(), loopNotice); n != 1 {
		t.Errorf("console has the loop notice %d times, want once:\n%s", n, s.Stdout)
	}
	if !strings.Contains(s.Stdout.String(), loopNotice+port+" ") {
		t.Errorf("loop notice does not name port %s:\n%s", port, s.Stdout)
	}
}

// TestTLSLoopToEdgeIsBounded runs the README's TLS example on the
// default set-up, where the local target is the edge's own TLS port.
func TestTLSLoopToEdgeIsBounded(t *testing.T) {
	edge := endpointEdge(t, nil)
	key := e2e.NewKey(t, t.TempDir(), "id")
	_, tlsPort, _ := net.SplitHostPort(edge.HTTPSAddr().String())
	s := edge.RunSSH(t, key, "-R", "mysite:443:localhost:"+tlsPort, "v2@127.0.0.1", "tls")
	s.URL(t)
	echo, roots := tlsEchoServer(t, "fine.localhost")
	// The looped connection replays the visitor's ClientHello: refused at
	// once, so the visit makes one channel.
	checkLoop(t, s, tlsPort, 1, func() {
		c, err := edge.DialTLS("mysite.localhost", &tls.Config{InsecureSkipVerify: true})
		if err == nil {
			c.Close()
			t.Fatal("a handshake through a looping tunnel succeeded")
		}
	}, func() {
		other := edge.RunSSH(t, key, "-R", "fine:443:localhost:"+echo, "v2@127.0.0.1", "tls")
		other.URL(t)
		c, err := edge.DialTLS("fine.localhost", &tls.Config{RootCAs: roots})
		if err != nil {
			t.Fatalf("another tunnel after the loop: %v", err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		echoOnce(t, c)
	})
}

// TestTCPLoopToOwnPortIsBounded points a tcp tunnel at its own public
// port (a reserved address, so the port is known before ssh -R).
func TestTCPLoopToOwnPortIsBounded(t *testing.T) {
	dir := t.TempDir()
	ann := e2e.NewKey(t, dir, "ann")
	port := freePort(t)
	edge := endpointEdge(t, func(c *config.Config) {
		c.Accounts = []config.Account{{Name: "ann", Keys: []string{ann.AuthorizedKey}, TCPAddresses: []string{"localhost:" + port}}}
	})
	s := edge.RunSSH(t, ann, "-R", "localhost:"+port+":localhost:"+port, "v2@127.0.0.1", "tcp")
	s.URL(t)
	echo, _ := echoServer(t)
	// Every connection of the loop comes from the owner's own address and
	// none is ever answered: the first MaxUnansweredFromOwner (the
	// visitor's own included, it is local too) are forwarded, the next is
	// refused and the chain unwinds back to the visitor.
	checkLoop(t, s, port, relay.MaxUnansweredFromOwner, func() {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		c.Write([]byte("hello"))
		if n, err := io.Copy(io.Discard, c); err != nil || n != 0 {
			t.Fatalf("visitor of a looping tunnel read %d bytes, %v; want a clean end", n, err)
		}
	}, func() {
		other := edge.RunSSH(t, ann, "-R", "0:localhost:"+echo, "v2@127.0.0.1", "tcp")
		c, err := net.DialTimeout("tcp", tcpAddr(t, other.URL(t)), 5*time.Second)
		if err != nil {
			t.Fatalf("another tunnel after the loop: %v", err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		echoOnce(t, c)
	})
}

// echoOnce writes a line to an echo service and reads it back.
func echoOnce(t *testing.T, c net.Conn) {
	t.Helper()
	const msg = "still healthy\n"
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
		t.Fatalf("echo %q, %v; want %q", buf, err, msg)
	}
}
