package connlimit

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// closedByPeer reports whether the server closed c (EOF on read).
func closedByPeer(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, err := c.Read(make([]byte, 1))
	ne, ok := err.(net.Error)
	return err != nil && !(ok && ne.Timeout())
}

func TestCaps(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Wrap(raw, 2, 3, nil)
	defer l.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	addr := raw.Addr().String()
	a1, a2, a3 := dialFrom(t, "127.0.0.1", addr), dialFrom(t, "127.0.0.1", addr), dialFrom(t, "127.0.0.1", addr)
	defer a1.Close()
	defer a2.Close()
	defer a3.Close()
	if !closedByPeer(a3) {
		t.Error("third connection from one address was not refused (per-IP cap 2)")
	}
	b1, b2 := dialFrom(t, "127.0.0.2", addr), dialFrom(t, "127.0.0.3", addr)
	defer b1.Close()
	defer b2.Close()
	if closedByPeer(b1) {
		t.Error("a second address was refused under the total cap")
	}
	if !closedByPeer(b2) {
		t.Error("a fourth connection overall was not refused (total cap 3)")
	}
	if got := l.Open(); got != 3 {
		t.Fatalf("open = %d, want 3", got)
	}
	// Closing a held connection frees its slot.
	(<-accepted).Close()
	time.Sleep(50 * time.Millisecond)
	if got := l.Open(); got != 2 {
		t.Fatalf("open after a close = %d, want 2", got)
	}
	c := dialFrom(t, "127.0.0.4", addr)
	defer c.Close()
	if closedByPeer(c) {
		t.Error("refused although a slot was free")
	}
}

// TestSharedAddrs: a shared address (a trusted load balancer) is held to
// the total cap only; others keep the per-address cap.
func TestSharedAddrs(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Wrap(raw, 1, 3, nil).SharedAddrs([]netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")})
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	addr := raw.Addr().String()
	lb1, lb2 := dialFrom(t, "127.0.0.1", addr), dialFrom(t, "127.0.0.1", addr)
	defer lb1.Close()
	defer lb2.Close()
	if closedByPeer(lb1) || closedByPeer(lb2) {
		t.Error("a shared address was held to the per-address cap")
	}
	o1, o2 := dialFrom(t, "127.0.0.2", addr), dialFrom(t, "127.0.0.2", addr)
	defer o1.Close()
	defer o2.Close()
	if closedByPeer(o1) {
		t.Error("another address's first connection was refused")
	}
	if !closedByPeer(o2) {
		t.Error("another address's second connection was not refused (per-IP cap 1)")
	}
}
