package httpedge

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// firstByteListener gives each new visitor connection the idle timeout,
// not the header timeout, to start its first request.
//
// net/http waits for the next request of a keep-alive connection under
// IdleTimeout and starts ReadHeaderTimeout at its first byte, but a new
// connection gets ReadHeaderTimeout from accept. Browsers open connections
// ahead of need, and HTTP clients pool spare ones they dialed; closing
// those after 10 s races with the client picking one for a request, which
// then fails (a POST is not retried). The header timeout still bounds a
// request once its first byte has arrived, so slow headers gain nothing.
type firstByteListener struct {
	net.Listener
	idle, header time.Duration
}

func (l firstByteListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	fc := &firstByteConn{Conn: c, idleUntil: time.Now().Add(l.idle), header: l.header}
	fc.waiting.Store(true)
	return fc, nil
}

// firstByteConn stretches read deadlines set before the first byte
// arrives to idleUntil, then restarts the header deadline at that byte.
// Deadlines in the past (net/http aborting a read) pass through. Once the
// first byte is in, the connection costs one atomic load per call.
type firstByteConn struct {
	net.Conn
	header    time.Duration
	idleUntil time.Time

	waiting atomic.Bool // no byte read yet; only ever goes to false
	mu      sync.Mutex  // orders deadline changes while waiting
}

func (c *firstByteConn) SetReadDeadline(t time.Time) error {
	if !c.waiting.Load() {
		return c.Conn.SetReadDeadline(t)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.waiting.Load() && t.After(time.Now()) && t.Before(c.idleUntil) {
		t = c.idleUntil
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *firstByteConn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.SetReadDeadline(t)
}

func (c *firstByteConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.waiting.Load() {
		c.mu.Lock()
		if c.waiting.Load() {
			c.waiting.Store(false)
			_ = c.Conn.SetReadDeadline(time.Now().Add(c.header))
		}
		c.mu.Unlock()
	}
	return n, err
}

// CloseWrite half-closes the connection when the one below can.
func (c *firstByteConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

// Unwrap returns the accepted connection.
func (c *firstByteConn) Unwrap() net.Conn { return c.Conn }
