package httpedge

import (
	"net"
	"sync"
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
	return &firstByteConn{Conn: c, waiting: true, idleUntil: time.Now().Add(l.idle), header: l.header}, nil
}

// firstByteConn stretches read deadlines set before the first byte
// arrives to idleUntil, then restarts the header deadline at that byte.
// Deadlines in the past (net/http aborting a read) pass through.
type firstByteConn struct {
	net.Conn
	header time.Duration

	mu        sync.Mutex
	waiting   bool // no byte read yet
	idleUntil time.Time
}

func (c *firstByteConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Conn.SetReadDeadline(c.stretchLocked(t))
}

func (c *firstByteConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetReadDeadline(c.stretchLocked(t))
}

// stretchLocked returns the read deadline to apply for t.
func (c *firstByteConn) stretchLocked(t time.Time) time.Time {
	if c.waiting && t.After(time.Now()) && t.Before(c.idleUntil) {
		return c.idleUntil
	}
	return t
}

func (c *firstByteConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		if c.waiting {
			c.waiting = false
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
