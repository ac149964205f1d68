package tunnel

import (
	"net"
	"sync"
	"time"
)

// NetConn makes c a net.Conn for libraries that need one (crypto/tls for
// a tunnel's --upstream-tls, the HTTP/2 transport for
// --upstream-protocol http2). Its addresses are the fixed Addr "tunnel".
// Deadlines are kept by closing c when one passes (an SSH channel has no
// deadlines of its own), so a Read or Write blocked past its deadline
// returns, with c closed: fine for the TLS alert writes and handshakes
// these libraries bound with deadlines, which end the connection anyway.
func NetConn(c Conn) net.Conn { return &netConn{Conn: c} }

// Addr is the address of a NetConn's both ends.
type Addr struct{}

// Network returns "tunnel".
func (Addr) Network() string { return "tunnel" }

// String returns "tunnel".
func (Addr) String() string { return "tunnel" }

type netConn struct {
	Conn
	mu            sync.Mutex
	read, written *time.Timer
}

func (c *netConn) LocalAddr() net.Addr  { return Addr{} }
func (c *netConn) RemoteAddr() net.Addr { return Addr{} }

func (c *netConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.read = c.arm(c.read, t)
	c.written = c.arm(c.written, t)
	return nil
}

func (c *netConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.read = c.arm(c.read, t)
	return nil
}

func (c *netConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.written = c.arm(c.written, t)
	return nil
}

// arm replaces timer with one that closes c at t; the zero t clears it.
func (c *netConn) arm(timer *time.Timer, t time.Time) *time.Timer {
	if timer != nil {
		timer.Stop()
	}
	if t.IsZero() {
		return nil
	}
	return time.AfterFunc(time.Until(t), func() { _ = c.Conn.Close() })
}

func (c *netConn) Close() error {
	c.mu.Lock()
	for _, t := range []*time.Timer{c.read, c.written} {
		if t != nil {
			t.Stop()
		}
	}
	c.mu.Unlock()
	return c.Conn.Close()
}

// CloseWrite half-closes c (crypto/tls's Conn.CloseWrite reaches it).
func (c *netConn) CloseWrite() error { return c.Conn.CloseWrite() }
