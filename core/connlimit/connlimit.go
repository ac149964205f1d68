// Package connlimit caps the connections a listener holds open, per remote
// address and overall. Connections over a cap are closed as soon as they
// are accepted, before any byte is read, so a flood from one address cannot
// exhaust the edge's file descriptors for everyone else.
package connlimit

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Listener wraps a net.Listener with the caps.
type Listener struct {
	net.Listener
	perIP, total int
	log          *slog.Logger

	// shared are addresses whose connections carry many visitors (a
	// trusted load balancer): only the total cap applies to them.
	shared []netip.Prefix

	mu     sync.Mutex
	byIP   map[netip.Addr]int
	n      int
	logged atomic.Int64 // unix seconds of the last "refused" log line
}

// Wrap returns l limited to perIP open connections per remote address and
// total overall (each at least 1).
func Wrap(l net.Listener, perIP, total int, log *slog.Logger) *Listener {
	if log == nil {
		log = slog.Default()
	}
	return &Listener{Listener: l, perIP: max(perIP, 1), total: max(total, 1), log: log, byIP: map[netip.Addr]int{}}
}

// SharedAddrs exempts connections from addrs from the per-address cap:
// each of them carries many visitors (a trusted load balancer sending the
// PROXY protocol), so only the total cap applies. Call it before Accept.
func (l *Listener) SharedAddrs(addrs []netip.Prefix) *Listener {
	l.shared = addrs
	return l
}

func (l *Listener) isShared(ip netip.Addr) bool {
	for _, p := range l.shared {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Accept returns the next connection within the caps; others are closed.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c)
		l.mu.Lock()
		over := l.n >= l.total || (l.byIP[ip] >= l.perIP && !l.isShared(ip))
		if !over {
			l.n++
			l.byIP[ip]++
		}
		l.mu.Unlock()
		if over {
			c.Close()
			l.noteRefused(ip)
			continue
		}
		return &conn{Conn: c, l: l, ip: ip}, nil
	}
}

// Open returns how many accepted connections are open (for tests).
func (l *Listener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

func (l *Listener) release(ip netip.Addr) {
	l.mu.Lock()
	l.n--
	if l.byIP[ip]--; l.byIP[ip] <= 0 {
		delete(l.byIP, ip)
	}
	l.mu.Unlock()
}

// noteRefused logs at most one line a second, so a flood cannot flood the
// log too.
func (l *Listener) noteRefused(ip netip.Addr) {
	now := time.Now().Unix()
	if last := l.logged.Load(); last != now && l.logged.CompareAndSwap(last, now) {
		l.log.Warn("visitor connection refused: connection limit reached", "visitor", ip.String(), "per_ip", l.perIP, "total", l.total)
	}
}

func remoteIP(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	ap, _ := netip.ParseAddrPort(c.RemoteAddr().String())
	return ap.Addr()
}

// conn gives its slot back once when closed.
type conn struct {
	net.Conn
	l    *Listener
	ip   netip.Addr
	once sync.Once
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.ip) })
	return err
}

// CloseWrite half-closes the connection when the underlying one can.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

// Unwrap returns the underlying connection.
func (c *conn) Unwrap() net.Conn { return c.Conn }
