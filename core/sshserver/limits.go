package sshserver

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sshgress/sshgress/core/metrics"
	"github.com/sshgress/sshgress/core/tunnel"
	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"
)

// Limits bound what strangers can make the edge hold. Zero fields take
// DefaultLimits' values, documented on each field.
type Limits struct {
	// UnauthPerSource caps connections from one source address that have
	// not finished authenticating. Default 20.
	UnauthPerSource int
	// UnauthTotal caps unauthenticated connections overall. Default 512.
	UnauthTotal int
	// FailuresBeforePenalty is how many failed handshakes or logins from one
	// source within PenaltyWindow put it in the penalty box. Default 20.
	FailuresBeforePenalty int
	// PenaltyWindow is the window failures are counted in, and the first
	// penalty's length (doubling each time, up to an hour). Default 1m.
	PenaltyWindow time.Duration
	// WrongCodesBeforePenalty is how many wrong `register` invite codes
	// from one source within PenaltyWindow put it in the penalty box.
	// Default 5.
	WrongCodesBeforePenalty int
	// TunnelsPerAccount caps open tunnels of one account across all its
	// connections. Default 20.
	TunnelsPerAccount int
	// ChannelsPerConn caps forwarded channels open at once on one SSH
	// connection; beyond it visitors get 503. Default 512.
	ChannelsPerConn int
	// ChannelsTotal caps forwarded channels open at once on the edge.
	// Default 16384.
	ChannelsTotal int
}

// DefaultLimits returns the limits zero fields of Limits take; core/config's
// defaults use them too.
func DefaultLimits() Limits {
	return Limits{
		UnauthPerSource:         20,
		UnauthTotal:             512,
		FailuresBeforePenalty:   20,
		PenaltyWindow:           time.Minute,
		WrongCodesBeforePenalty: 5,
		TunnelsPerAccount:       20,
		ChannelsPerConn:         512,
		ChannelsTotal:           16384,
	}
}

func (l *Limits) setDefaults() {
	def := DefaultLimits()
	set := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	set(&l.UnauthPerSource, def.UnauthPerSource)
	set(&l.UnauthTotal, def.UnauthTotal)
	set(&l.FailuresBeforePenalty, def.FailuresBeforePenalty)
	set(&l.WrongCodesBeforePenalty, def.WrongCodesBeforePenalty)
	set(&l.TunnelsPerAccount, def.TunnelsPerAccount)
	set(&l.ChannelsPerConn, def.ChannelsPerConn)
	set(&l.ChannelsTotal, def.ChannelsTotal)
	if l.PenaltyWindow <= 0 {
		l.PenaltyWindow = def.PenaltyWindow
	}
}

// gate admits new TCP connections before the handshake: it caps
// unauthenticated connections per source and overall, and keeps sources
// that keep failing out for a while.
type gate struct {
	lim Limits
	now func() time.Time

	mu      sync.Mutex
	total   int
	sources map[netip.Addr]*source
}

type source struct {
	unauth    int
	failures  int
	codes     int // wrong invite codes in the window
	codesEnd  time.Time
	windowEnd time.Time
	penalty   time.Duration
	until     time.Time
}

func newGate(l Limits) *gate {
	return &gate{lim: l, now: time.Now, sources: map[netip.Addr]*source{}}
}

func addrOf(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap.Addr().Unmap()
}

// Why admit refuses, logged; refusedAs names each for the metrics.
const (
	whyPenalty   = "source in penalty box after repeated failed logins"
	whyPerSource = "too many unauthenticated connections from this source"
	whyTotal     = "too many unauthenticated connections"
)

var refusedAs = map[string]string{
	whyPenalty:   metrics.RefusedPenalty,
	whyPerSource: metrics.RefusedPerSource,
	whyTotal:     metrics.RefusedTotal,
}

// admit reserves an unauthenticated slot for ip, or says why not.
func (g *gate) admit(ip netip.Addr) (ok bool, why string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.sources[ip]
	if s == nil {
		s = &source{}
		g.sources[ip] = s
	}
	now := g.now()
	switch {
	case now.Before(s.until):
		return false, whyPenalty
	case s.unauth >= g.lim.UnauthPerSource:
		return false, whyPerSource
	case g.total >= g.lim.UnauthTotal:
		return false, whyTotal
	}
	s.unauth++
	g.total++
	return true, ""
}

// done releases ip's slot; failed records a failed handshake or login.
func (g *gate) done(ip netip.Addr, failed bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.sources[ip]
	if s == nil {
		return
	}
	s.unauth--
	g.total--
	now := g.now()
	if failed {
		g.strike(s, &s.failures, &s.windowEnd, g.lim.FailuresBeforePenalty, now)
	}
	g.forget(ip, s, now)
}

// strike counts one offence in *n, a count that restarts each
// PenaltyWindow (ending at *end), and puts s in the penalty box when it
// reaches limit.
func (g *gate) strike(s *source, n *int, end *time.Time, limit int, now time.Time) {
	if now.After(*end) {
		*n, *end = 0, now.Add(g.lim.PenaltyWindow)
	}
	*n++
	if *n >= limit {
		g.penalize(s, now)
		*n = 0
	}
}

// penalize puts s in the penalty box, each time for twice as long, up to
// an hour.
func (g *gate) penalize(s *source, now time.Time) {
	s.penalty = min(max(2*s.penalty, g.lim.PenaltyWindow), time.Hour)
	s.until = now.Add(s.penalty)
}

// forget drops ip's record once it holds nothing.
func (g *gate) forget(ip netip.Addr, s *source, now time.Time) {
	if s.unauth == 0 && s.failures == 0 && s.codes == 0 && !now.Before(s.until) {
		delete(g.sources, ip)
	}
}

// wrongCode records a wrong `register` code from ip: after
// WrongCodesBeforePenalty of them in PenaltyWindow, ip is refused like a
// source of failed logins.
func (g *gate) wrongCode(ip netip.Addr) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.sources[ip]
	if s == nil {
		s = &source{}
		g.sources[ip] = s
	}
	now := g.now()
	g.strike(s, &s.codes, &s.codesEnd, g.lim.WrongCodesBeforePenalty, now)
	g.forget(ip, s, now)
}

// counter is a cap on things held at once.
type counter struct {
	n   atomic.Int64
	max int64
}

func (c *counter) acquire() bool {
	if c.n.Add(1) > c.max {
		c.n.Add(-1)
		return false
	}
	return true
}

func (c *counter) release() { c.n.Add(-1) }

// limitedChannel releases its channel slots when closed and counts the
// bytes it carries into its tunnel's stats.
type limitedChannel struct {
	ssh.Channel
	once    sync.Once
	release func()
	stats   *tunnel.Stats
}

// Read is what the user's service sent: bytes out, toward the visitor.
func (c *limitedChannel) Read(p []byte) (int, error) {
	n, err := c.Channel.Read(p)
	c.stats.Out(n)
	return n, err
}

// Write is what the visitor sent: bytes in, toward the user's service.
func (c *limitedChannel) Write(p []byte) (int, error) {
	n, err := c.Channel.Write(p)
	c.stats.In(n)
	return n, err
}

func (c *limitedChannel) Close() error {
	err := c.Channel.Close()
	c.once.Do(c.release)
	return err
}

// accountTunnels counts open tunnels per account across connections.
type accountTunnels struct {
	mu sync.Mutex
	n  map[string]int
}

func (a *accountTunnels) add(name string, delta, max int) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n == nil {
		a.n = map[string]int{}
	}
	if delta > 0 && a.n[name]+delta > max {
		return false
	}
	a.n[name] += delta
	if a.n[name] <= 0 {
		delete(a.n, name)
	}
	return true
}
