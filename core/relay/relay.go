// Package relay carries the visitor connections of one raw-byte endpoint
// to its tunnel: a TCP endpoint (core/tcpedge) or a TLS passthrough name
// (core/tlsedge). A Relay checks each visitor against the endpoint's Rules
// (CIDR allow/deny) at accept, refuses a forwarding loop (loop.go), opens
// the visitor's tunnel connection, writes the PROXY protocol header when
// asked (proxy.go) and splices the two (tunnel.Splice) with half-close
// passed on both ways. The listeners that find the visitors stay with the
// edges that own them.
package relay

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sshgress/sshgress/core/accesslog"
	"github.com/sshgress/sshgress/core/tunnel"
)

// DefaultMaxConns bounds the live visitor connections of one endpoint.
const DefaultMaxConns = 1024

// Relay carries the visitor connections of one endpoint to its tunnel:
// it applies the endpoint's rules at accept, opens an upstream per
// connection, writes the PROXY header and splices. It is shared by TCP
// endpoints and TLS passthrough. Close ends every connection.
type Relay struct {
	rules Rules
	dial  tunnel.DialFunc
	max   int
	log   *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	report func(visitor netip.AddrPort, what string)
	line   func(string)
	stats  *tunnel.Stats            // counts each admitted visitor connection
	access atomic.Pointer[accessTo] // nil when the access log is off
	loop   loopGuard
	// elsewhere takes a visitor whose upstream could not be dialed
	// (RetryElsewhere); nil closes it.
	elsewhere func(visitor net.Conn, hello []byte) bool
	mu        sync.Mutex
	conns     map[net.Conn]struct{}
	closed    bool
	wg        sync.WaitGroup
}

// New returns a relay; max <= 0 means DefaultMaxConns.
func New(rules Rules, dial tunnel.DialFunc, max int, log *slog.Logger) *Relay {
	if max <= 0 {
		max = DefaultMaxConns
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Relay{rules: rules, dial: dial, max: max, log: log, ctx: ctx, cancel: cancel, conns: make(map[net.Conn]struct{})}
}

// CountInto counts each admitted visitor connection into s (the tunnel's
// Stats). Call it before the relay serves.
func (r *Relay) CountInto(s *tunnel.Stats) { r.stats = s }

// ReportTo sends one line per visitor connection (refused, failed, or done
// with its byte counts and duration) to line, e.g. the owner's console.
// Call it before the relay serves its first visitor.
func (r *Relay) ReportTo(line func(string)) {
	if line == nil {
		return
	}
	r.line = line
	r.report = func(v netip.AddrPort, what string) {
		line(fmt.Sprintf("%-4s %-22s %s", "TCP", v.Addr().Unmap(), what))
	}
}

// LogAccessTo writes one access-log line per visitor connection to log
// (relayed, refused by the CIDR rules, or not answered upstream); base
// holds the endpoint's fields (tunnel, account, type, host, port). Call
// it once, when the endpoint's name is known (connections served before
// log nothing). A nil log logs nothing.
func (r *Relay) LogAccessTo(log *accesslog.Log, base accesslog.Conn) {
	if log.Enabled() {
		r.access.Store(&accessTo{log: log, base: base})
	}
}

// accessTo is where a relay's access lines go, and their endpoint part.
type accessTo struct {
	log  *accesslog.Log
	base accesslog.Conn
}

// logAccess writes a visitor connection's access line.
func (r *Relay) logAccess(v netip.AddrPort, verdict string, c tunnel.Counts, took time.Duration) {
	to := r.access.Load()
	if to == nil {
		return
	}
	line := to.base
	line.Visitor, line.Verdict = v.Addr(), verdict
	line.In, line.Out, line.Total = c.In, c.Out, took
	to.log.Conn(&line)
}

func (r *Relay) note(v netip.AddrPort, what string) {
	if r.report != nil {
		r.report(v, what)
	}
}

// GuardLoops makes the relay refuse a TCP forwarding loop: connections
// from owner (the tunnel owner's SSH client address) past
// MaxUnansweredFromOwner still waiting for their upstream's first byte.
// The first refusal in a while is told through the ReportTo line and the
// log. Call it before the relay serves its first visitor. TLS passthrough
// does not need it: ServeHello finds its loops exactly.
func (r *Relay) GuardLoops(owner netip.Addr) {
	r.loop.owner = owner.Unmap()
}

// RetryElsewhere makes the relay hand a visitor whose upstream could not
// be dialed (so nothing was sent to it) to f instead of closing it: a
// pooled endpoint sends it to another member (ServeRetried). f reports
// whether it took the visitor; if not, the visitor is closed. Call it
// before the relay serves its first visitor.
func (r *Relay) RetryElsewhere(f func(visitor net.Conn, hello []byte) bool) { r.elsewhere = f }

// ServeRetried serves a visitor another relay could not dial for
// (RetryElsewhere), with the first bytes hello it read (nil for TCP): as
// Serve or ServeHello, but never retried again.
func (r *Relay) ServeRetried(visitor net.Conn, hello []byte) { r.serve(visitor, hello, false) }

// Rules returns the relay's rules.
func (r *Relay) Rules() *Rules { return &r.rules }

// Serve takes ownership of visitor and serves it in the background. A
// visitor the rules refuse, one over the connection limit, or one that
// looks like a forwarding loop (GuardLoops) is closed at once without
// opening an upstream.
func (r *Relay) Serve(visitor net.Conn) { r.serve(visitor, nil, true) }

// ServeHello is Serve for TLS passthrough: hello is the ClientHello the
// visitor sent, already read, which visitor's reads replay first. A
// visitor whose hello is byte for byte one the relay forwarded on a
// connection whose upstream has not answered yet came back through the
// tunnel (its local target is the edge's own TLS port), and is refused
// like a TCP loop.
func (r *Relay) ServeHello(visitor net.Conn, hello []byte) {
	if hello == nil {
		hello = []byte{}
	}
	r.serve(visitor, hello, true)
}

// serve admits visitor; retry allows RetryElsewhere for it.
func (r *Relay) serve(visitor net.Conn, hello []byte, retry bool) {
	addr := AddrPort(visitor.RemoteAddr())
	if !r.rules.Admit(addr.Addr()) {
		r.log.Debug("visitor refused by CIDR rules", "visitor", addr.Addr())
		r.note(addr, "refused by the CIDR rules")
		r.logAccess(addr, accesslog.ConnRefused, tunnel.Counts{}, 0)
		visitor.Close()
		return
	}
	ok, answered, notice := r.loop.admit(addr.Addr(), hello)
	if !ok {
		if notice {
			port := AddrPort(visitor.LocalAddr()).Port()
			r.log.Warn("forwarding loop: connections that came back through a tunnel refused", "from", addr.Addr(), "port", port)
			if r.line != nil {
				r.line(loopNotice(port))
			}
		}
		visitor.Close()
		return
	}
	r.mu.Lock()
	if r.closed || len(r.conns) >= r.max {
		r.mu.Unlock()
		if answered != nil {
			answered()
		}
		visitor.Close()
		return
	}
	r.conns[visitor] = struct{}{}
	r.wg.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.wg.Done()
		defer func() {
			r.mu.Lock()
			delete(r.conns, visitor)
			r.mu.Unlock()
		}()
		if answered != nil {
			defer answered()
		}
		r.handle(visitor, addr, hello, answered, retry)
	}()
}

// handle serves one admitted visitor whose first bytes, already read, are
// hello (nil for TCP); answered, if not nil, is called at the upstream's
// first byte. retry allows handing the visitor elsewhere when the dial
// fails.
func (r *Relay) handle(visitor net.Conn, addr netip.AddrPort, hello []byte, answered func(), retry bool) {
	r.stats.Request()
	start := time.Now()
	up, err := r.dial(r.ctx, addr)
	if err == nil && answered != nil {
		up = &answerWatch{Conn: up, answered: answered}
	}
	if err != nil {
		r.log.Debug("upstream dial failed", "err", err)
		if retry && r.elsewhere != nil && r.release(visitor) && r.elsewhere(visitor, hello) {
			r.note(addr, "the local service did not answer; sent to another tunnel of the pool")
			return
		}
		r.note(addr, "the local service did not answer")
		r.logAccess(addr, accesslog.ConnUnavailable, tunnel.Counts{}, time.Since(start))
		visitor.Close()
		return
	}
	if v := r.rules.ProxyProtocol; v != 0 {
		if err := WriteProxyHeader(up, v, addr, AddrPort(visitor.LocalAddr())); err != nil {
			visitor.Close()
			up.Close()
			return
		}
	}
	c, _ := tunnel.Splice(visitor, up)
	took := time.Since(start)
	r.note(addr, fmt.Sprintf("%s in, %s out, %s", tunnel.Size(c.In), tunnel.Size(c.Out), took.Round(time.Millisecond)))
	r.logAccess(addr, accesslog.VerdictContinue, c, took)
}

// release stops tracking visitor, so that closing the relay no longer
// closes it, and reports whether the relay still held it (Close had not
// closed it yet).
func (r *Relay) release(visitor net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.conns[visitor]
	delete(r.conns, visitor)
	return ok
}

// Len returns the number of live connections.
func (r *Relay) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.conns)
}

// Close refuses new connections, closes the live ones and waits for their
// goroutines. Idempotent.
func (r *Relay) Close() {
	r.mu.Lock()
	r.closed = true
	conns := make([]net.Conn, 0, len(r.conns))
	for c := range r.conns {
		conns = append(conns, c)
	}
	r.mu.Unlock()
	r.cancel()
	for _, c := range conns {
		c.Close()
	}
	r.wg.Wait()
}
