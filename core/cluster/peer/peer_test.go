package peer

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sshgress/sshgress/core/route"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var testSecret = []byte("0123456789abcdef0123456789abcdef-cluster")

func identity(t *testing.T, secret []byte, node string) *Identity {
	t.Helper()
	id, err := NewIdentity(secret, node)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// node is a peer listener whose handler accepts streams for the names it
// holds, echoing what it reads after the verdict, and refuses others.
type node struct {
	addr string
	ln   net.Listener
	got  chan *Stream
	done chan struct{}
	wg   sync.WaitGroup
}

func startNode(t *testing.T, id *Identity, holds ...string) *node {
	t.Helper()
	return startNodeAt(t, id, "127.0.0.1:0", holds...)
}

// idleForTests is the listeners' IdleTimeout unless a test sets another.
var idleForTests time.Duration

// startNodeAt listens on addr, retrying for a while if a node that just
// stopped still holds it.
func startNodeAt(t *testing.T, id *Identity, addr string, holds ...string) *node {
	t.Helper()
	var ln net.Listener
	var err error
	for range 100 {
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	n := &node{addr: ln.Addr().String(), ln: ln, got: make(chan *Stream, 64), done: make(chan struct{})}
	held := map[string]bool{}
	for _, h := range holds {
		held[h] = true
	}
	srv := &Server{ID: id, IdleTimeout: idleForTests, Handle: func(s *Stream) {
		n.wg.Add(1)
		defer n.wg.Done()
		if !held[s.Name] {
			s.Refuse()
			return
		}
		if err := s.Accept(); err != nil {
			s.Close()
			return
		}
		n.got <- s
		_, _ = io.Copy(s, s) // echo, the peeked bytes first
		s.Close()
	}}
	go func() {
		defer close(n.done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		ln.Close()
		<-n.done
	})
	return n
}

func (n *node) stream(t *testing.T) *Stream {
	t.Helper()
	select {
	case s := <-n.got:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("the owner received no stream")
		return nil
	}
}

func TestRelayCarriesHeaderAndBytes(t *testing.T) {
	owner := startNode(t, identity(t, testSecret, "eu-2"), "app.example.com")
	d := &Dialer{ID: identity(t, testSecret, "eu-1")}
	defer d.Close()

	visitor := netip.MustParseAddrPort("203.0.113.7:41000")
	public := netip.MustParseAddrPort("198.51.100.1:443")
	hello := []byte("GET / HTTP/1.1\r\nHost: app.example.com\r\n\r\n")
	c, err := d.Relay(context.Background(), "eu-2", owner.addr, Header{
		Name: "app.example.com", Kind: route.KindHTTP, Source: visitor, Dest: public, Peeked: hello,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := owner.stream(t)
	if s.From != "eu-1" || s.Name != "app.example.com" || s.Kind != route.KindHTTP || s.Source != visitor || s.Dest != public {
		t.Fatalf("stream = from %q name %q kind %v source %v dest %v", s.From, s.Name, s.Kind, s.Source, s.Dest)
	}
	// The peeked bytes come first, then the rest, both ways.
	if _, err := c.Write([]byte("rest")); err != nil {
		t.Fatal(err)
	}
	want := append(append([]byte(nil), hello...), "rest"...)
	got := make([]byte, len(want))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("echoed %q, want %q", got, want)
	}
}

func TestRelayRefusedByNonOwner(t *testing.T) {
	other := startNode(t, identity(t, testSecret, "eu-3"), "someone-else.example.com")
	d := &Dialer{ID: identity(t, testSecret, "eu-1")}
	defer d.Close()
	_, err := d.Relay(context.Background(), "eu-3", other.addr, Header{Name: "app.example.com", Kind: route.KindTLS})
	if !errors.Is(err, ErrNotOwner) {
		t.Fatalf("Relay = %v, want ErrNotOwner", err)
	}
}

// TestOtherSecretIsNoPeer: a node with another secret can neither relay to
// this node nor be relayed to.
func TestOtherSecretIsNoPeer(t *testing.T) {
	otherSecret := []byte("another secret of more than thirty-two bytes")
	a := identity(t, testSecret, "eu-1")
	b := identity(t, otherSecret, "eu-2")
	if a.Fingerprint() == b.Fingerprint() {
		t.Fatal("two secrets gave one authority")
	}
	if a2 := identity(t, testSecret, "eu-9"); a2.Fingerprint() != a.Fingerprint() {
		t.Fatal("one secret gave two authorities: nodes could not verify each other")
	}
	var logged sync.Map
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		(&Server{ID: a, Handle: func(s *Stream) { t.Error("a stream from a stranger was handed on"); s.Close() },
			Log: func(msg string, err error) { logged.Store(msg, true) }}).Serve(ln)
	}()
	defer func() { ln.Close(); <-done }()

	stranger := &Dialer{ID: b}
	defer stranger.Close()
	if _, err := stranger.Relay(context.Background(), "eu-1", ln.Addr().String(), Header{Name: "x.example.com", Kind: route.KindHTTP}); err == nil {
		t.Fatal("a node of another secret relayed")
	}
	// Nor does a plain TLS client without a certificate get anywhere.
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{alpn}})
	if err == nil {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Read(make([]byte, 1))
		c.Close()
	}
	if err == nil {
		t.Fatal("a client without a certificate was served")
	}
}

// TestDialedNodeMustBeTheNamedOne: an address that now belongs to another
// node of the cluster is refused, not relayed to.
func TestDialedNodeMustBeTheNamedOne(t *testing.T) {
	n := startNode(t, identity(t, testSecret, "eu-2"), "app.example.com")
	d := &Dialer{ID: identity(t, testSecret, "eu-1")}
	defer d.Close()
	_, err := d.Relay(context.Background(), "eu-3", n.addr, Header{Name: "app.example.com", Kind: route.KindHTTP})
	if err == nil || !strings.Contains(err.Error(), "eu-3") {
		t.Fatalf("Relay to eu-3 at eu-2's address = %v, want a certificate error", err)
	}
}

// TestWarmConnections: after the first relay, relays take handshaken
// connections, and a warm connection the peer dropped is replaced.
func TestWarmConnections(t *testing.T) {
	id := identity(t, testSecret, "eu-2")
	n := startNode(t, id, "app.example.com")
	d := &Dialer{ID: identity(t, testSecret, "eu-1"), Warm: 2}
	defer d.Close()
	relay := func() {
		t.Helper()
		c, err := d.Relay(context.Background(), "eu-2", n.addr, Header{Name: "app.example.com", Kind: route.KindHTTP, Peeked: []byte("x")})
		if err != nil {
			t.Fatal(err)
		}
		if s := n.stream(t); s.From != "eu-1" { // resumed handshakes name the node too
			t.Fatalf("stream from %q, want eu-1", s.From)
		}
		c.Close()
	}
	relay()
	waitWarm(t, d, "eu-2 "+n.addr, 2)
	for range 5 {
		relay()
		waitWarm(t, d, "eu-2 "+n.addr, 2)
	}
	if st := d.Stats(); st.Fresh != 1 || st.Warm != 5 {
		t.Fatalf("stats = %+v, want 1 fresh and 5 warm", st)
	}
	d.mu.Lock()
	resumed := 0
	for _, w := range d.idle["eu-2 "+n.addr] {
		if w.c.ConnectionState().DidResume {
			resumed++
		}
	}
	d.mu.Unlock()
	if resumed == 0 {
		t.Error("no warm connection resumed a TLS session")
	}

	// The peer restarts: its warm connections die; the next relay dials.
	n.ln.Close()
	<-n.done
	d.mu.Lock()
	for _, w := range d.idle["eu-2 "+n.addr] {
		w.c.NetConn().Close() // as the peer's restart would
	}
	d.mu.Unlock()
	n2 := startNodeAt(t, id, n.addr, "app.example.com")
	c, err := d.Relay(context.Background(), "eu-2", n2.addr, Header{Name: "app.example.com", Kind: route.KindHTTP, Peeked: []byte("y")})
	if err != nil {
		t.Fatalf("relay after the peer restarted: %v", err)
	}
	n2.stream(t)
	c.Close()
}

func waitWarm(t *testing.T, d *Dialer, key string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		d.mu.Lock()
		got := len(d.idle[key])
		d.mu.Unlock()
		if got >= n {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("fewer than %d warm connections for %s", n, key)
}

// TestIdleStreamClosed: a connection that brings no header within the
// idle timeout is closed by the listener.
func TestIdleStreamClosed(t *testing.T) {
	idleForTests = 200 * time.Millisecond
	n := startNode(t, identity(t, testSecret, "eu-2"), "app.example.com")
	idleForTests = 0
	d := &Dialer{ID: identity(t, testSecret, "eu-1")}
	defer d.Close()
	c, err := d.dial(context.Background(), "eu-2", n.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read on an idle peer connection = %v, want it closed by the listener", err)
	}
}

func TestSecretAndNodeChecks(t *testing.T) {
	if _, err := NewIdentity([]byte("short"), "eu-1"); err == nil {
		t.Error("a 5-byte secret was accepted")
	}
	for _, bad := range []string{"", "EU-1", "eu.1", "-eu", "eu 1", strings.Repeat("a", 64)} {
		if _, err := NewIdentity(testSecret, bad); err == nil {
			t.Errorf("node name %q was accepted", bad)
		}
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "cluster.secret")
	os.WriteFile(p, append(testSecret, '\n'), 0o644)
	if _, err := ReadSecret(p); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("ReadSecret of a world-readable file = %v, want a chmod hint", err)
	}
	os.Chmod(p, 0o600)
	if b, err := ReadSecret(p); err != nil || !bytes.Equal(b, testSecret) {
		t.Errorf("ReadSecret = %q, %v", b, err)
	}
	os.WriteFile(p, []byte("too short"), 0o600)
	if _, err := ReadSecret(p); err == nil || !strings.Contains(err.Error(), "head -c 48 /dev/urandom") {
		t.Errorf("ReadSecret of a short secret = %v, want how to make one", err)
	}
	k1, _ := DeriveKey(testSecret, "peer authority")
	k2, _ := DeriveKey(testSecret, "secrets in etcd")
	if bytes.Equal(k1, k2) {
		t.Error("two purposes derived one key")
	}
}

// BenchmarkRelay: the cost of opening a relayed stream (header, verdict,
// first echo) on a warm connection and on a freshly handshaken one.
func BenchmarkRelay(b *testing.B) {
	for _, warm := range []int{0, 4} {
		name := "fresh"
		if warm > 0 {
			name = "warm"
		}
		b.Run(name, func(b *testing.B) {
			id, _ := NewIdentity(testSecret, "eu-2")
			ln, _ := net.Listen("tcp", "127.0.0.1:0")
			done := make(chan struct{})
			go func() {
				defer close(done)
				(&Server{ID: id, Handle: func(s *Stream) {
					if s.Accept() == nil {
						io.Copy(s, s)
					}
					s.Close()
				}}).Serve(ln)
			}()
			me, _ := NewIdentity(testSecret, "eu-1")
			d := &Dialer{ID: me, Warm: warm}
			one := make([]byte, 1)
			b.ResetTimer()
			for b.Loop() {
				c, err := d.Relay(context.Background(), "eu-2", ln.Addr().String(), Header{Name: "a.example.com", Kind: route.KindHTTP, Peeked: []byte("x")})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, one); err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
			b.StopTimer()
			st := d.Stats()
			b.ReportMetric(float64(st.Warm)/float64(st.Warm+st.Fresh), "warm/op")
			d.Close()
			ln.Close()
			<-done
		})
	}
}
