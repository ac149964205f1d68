package relay

import (
	"context"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/tunnel"
)

// loopRig is a relay on a real loopback listener whose upstreams are real
// TCP connections to a backend that either greets at once or stays silent
// (like the edge's own port in a forwarding loop).
type loopRig struct {
	relay    *Relay
	addr     string
	accepted atomic.Int64

	mu    sync.Mutex
	lines []string
}

func newLoopRig(t *testing.T, owner string, greet bool) *loopRig {
	t.Helper()
	rig := &loopRig{}
	back, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { back.Close() })
	var held sync.WaitGroup
	go func() {
		for {
			c, err := back.Accept()
			if err != nil {
				return
			}
			rig.accepted.Add(1)
			held.Add(1)
			go func() {
				defer held.Done()
				defer c.Close()
				if greet {
					c.Write([]byte("hi"))
				}
				io.Copy(io.Discard, c)
			}()
		}
	}()
	dial := func(ctx context.Context, _ netip.AddrPort) (tunnel.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", back.Addr().String())
		if err != nil {
			return nil, err
		}
		return c.(*net.TCPConn), nil
	}
	rig.relay = New(Rules{}, dial, 0, nil)
	rig.relay.ReportTo(func(s string) {
		rig.mu.Lock()
		rig.lines = append(rig.lines, s)
		rig.mu.Unlock()
	})
	rig.relay.GuardLoops(netip.MustParseAddr(owner))
	pub, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rig.addr = pub.Addr().String()
	go func() {
		for {
			c, err := pub.Accept()
			if err != nil {
				return
			}
			rig.relay.Serve(c)
		}
	}()
	t.Cleanup(func() {
		pub.Close()
		rig.relay.Close()
		back.Close()
		held.Wait()
	})
	return rig
}

// dialFrom connects to the rig's public port from source.
func (rig *loopRig) dialFrom(t *testing.T, source string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}}
	c, err := d.Dial("tcp", rig.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// waitAccepted waits (bounded) until the backend has accepted n upstreams.
func (rig *loopRig) waitAccepted(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for rig.accepted.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("backend accepted %d upstreams, want %d", rig.accepted.Load(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (rig *loopRig) notices() int {
	rig.mu.Lock()
	defer rig.mu.Unlock()
	n := 0
	for _, l := range rig.lines {
		if strings.Contains(l, "forwarding loop") {
			n++
		}
	}
	return n
}

// loopRefused reports whether the relay closed c without serving it.
func loopRefused(t *testing.T, c net.Conn) bool {
	t.Helper()
	_, err := c.Read(make([]byte, 1))
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("connection held open until its deadline: the relay served it, want it refused at once")
	}
	return err != nil
}

func TestLoopGuardRefusesUnansweredOwnerConnections(t *testing.T) {
	rig := newLoopRig(t, "127.0.0.1", false)
	var first []net.Conn
	for range MaxUnansweredFromOwner {
		first = append(first, rig.dialFrom(t, "127.0.0.1"))
	}
	rig.waitAccepted(t, MaxUnansweredFromOwner)

	for i := range 3 {
		if c := rig.dialFrom(t, "127.0.0.1"); !loopRefused(t, c) {
			t.Fatalf("owner connection %d past %d unanswered ones was served, want refused", MaxUnansweredFromOwner+1+i, MaxUnansweredFromOwner)
		}
	}
	if got := rig.accepted.Load(); got != MaxUnansweredFromOwner {
		t.Errorf("backend accepted %d upstreams, want %d", got, MaxUnansweredFromOwner)
	}
	if n := rig.notices(); n != 1 {
		t.Errorf("console got the loop notice %d times, want once; lines %q", n, rig.lines)
	}
	rig.mu.Lock()
	if want := "this edge's own port " + rig.addr[strings.LastIndex(rig.addr, ":")+1:]; !strings.Contains(strings.Join(rig.lines, "\n"), want) {
		t.Errorf("lines %q lack %q", rig.lines, want)
	}
	rig.mu.Unlock()

	t.Run("a slot is given back when a connection ends", func(t *testing.T) {
		before := rig.accepted.Load()
		first[0].Close()
		// The relay notices the end asynchronously: retry while refused.
		deadline := time.Now().Add(10 * time.Second)
		for rig.accepted.Load() == before {
			if time.Now().After(deadline) {
				t.Fatal("owner connections still refused after one of them ended")
			}
			c := rig.dialFrom(t, "127.0.0.1")
			for rig.accepted.Load() == before && time.Now().Before(deadline) {
				c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
				if _, err := c.Read(make([]byte, 1)); err != nil {
					if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
						break // refused: try again
					}
				}
			}
		}
		rig.waitAccepted(t, before+1)
	})
}

func TestLoopGuardLeavesOtherVisitorsAlone(t *testing.T) {
	rig := newLoopRig(t, "192.0.2.7", false) // the owner is elsewhere
	for range 3 * MaxUnansweredFromOwner {
		rig.dialFrom(t, "127.0.0.1")
	}
	rig.waitAccepted(t, 3*MaxUnansweredFromOwner)
	if n := rig.notices(); n != 0 {
		t.Errorf("loop notice for visitors from another address: %q", rig.lines)
	}
}

func TestLoopGuardOwnerHost(t *testing.T) {
	for _, tc := range []struct {
		owner, visitor string
		want           bool
	}{
		{"203.0.113.5", "203.0.113.5", true},
		{"203.0.113.5", "::ffff:203.0.113.5", true},
		{"203.0.113.5", "203.0.113.6", false},
		{"203.0.113.5", "127.0.0.1", false},
		{"127.0.0.1", "::1", true},
		{"127.0.0.1", "127.0.0.2", true},
		{"::1", "127.0.0.1", true},
		{"2001:db8::1", "2001:db8::1", true},
		{"2001:db8::1", "2001:db8::2", false},
	} {
		g := loopGuard{owner: netip.MustParseAddr(tc.owner).Unmap()}
		if got := g.fromOwner(netip.MustParseAddr(tc.visitor)); got != tc.want {
			t.Errorf("owner %s, visitor %s: fromOwner %v, want %v", tc.owner, tc.visitor, got, tc.want)
		}
	}
	var zero loopGuard
	if zero.fromOwner(netip.MustParseAddr("127.0.0.1")) {
		t.Error("a relay without GuardLoops counts visitors as the owner's")
	}
}

func TestLoopGuardLetsOwnerUseAnsweringService(t *testing.T) {
	rig := newLoopRig(t, "127.0.0.1", true)
	var conns []net.Conn
	for range 4 * MaxUnansweredFromOwner {
		c := rig.dialFrom(t, "127.0.0.1")
		buf := make([]byte, 2)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hi" {
			t.Fatalf("owner connection %d: read %q, %v; want the service's greeting", len(conns)+1, buf, err)
		}
		conns = append(conns, c) // all stay open
	}
	if n := rig.notices(); n != 0 {
		t.Errorf("loop notice for an answering service: %q", rig.lines)
	}
}

// TestLoopGuardHello: a ClientHello forwarded on a connection whose
// upstream has not answered is refused when it arrives again (it came
// back through the tunnel), whoever sends it; once the first connection
// is answered or gone, the guard forgets it.
func TestLoopGuardHello(t *testing.T) {
	var g loopGuard // TLS relays set no owner
	v := netip.MustParseAddr("203.0.113.9")
	helloA, helloB := []byte("\x16\x03\x01 hello A, random 1"), []byte("\x16\x03\x01 hello B, random 2")
	ok, releaseA, _ := g.admit(v, helloA)
	if !ok || releaseA == nil {
		t.Fatal("first hello refused")
	}
	if ok, _, notice := g.admit(netip.MustParseAddr("127.0.0.1"), helloA); ok || !notice {
		t.Fatalf("hello A again while unanswered: ok %v notice %v, want refused with a notice", ok, notice)
	}
	if ok, _, notice := g.admit(v, helloA); ok || notice {
		t.Fatalf("hello A a third time: ok %v notice %v, want refused without a second notice", ok, notice)
	}
	ok, releaseB, _ := g.admit(v, helloB)
	if !ok {
		t.Fatal("another hello refused")
	}
	releaseA()
	releaseA() // idempotent
	ok, releaseA2, _ := g.admit(v, helloA)
	if !ok {
		t.Fatal("hello A refused after its first connection was answered")
	}
	releaseA2()
	releaseB()
	if len(g.hellos) != 0 {
		t.Errorf("guard still holds %d hellos after every connection ended", len(g.hellos))
	}
	for range 3 * MaxUnansweredFromOwner {
		if ok, _, _ := g.admit(netip.MustParseAddr("127.0.0.1"), []byte(t.Name()+strconv.Itoa(len(g.hellos)))); !ok {
			t.Fatal("distinct hellos from one address refused: TLS relays must not count")
		}
	}
}
