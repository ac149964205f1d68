package tcpedge

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"sync"
)

// DefaultMaxConns bounds the live visitor connections of one endpoint.
const DefaultMaxConns = 1024

// Relay carries the visitor connections of one endpoint to its tunnel:
// it applies the endpoint's rules at accept, opens an upstream per
// connection, writes the PROXY header and splices. It is shared by TCP
// endpoints and TLS passthrough. Close ends every connection.
type Relay struct {
	rules Rules
	dial  DialFunc
	max   int
	log   *slog.Logger

	ctx      context.Context
	cancel   context.CancelFunc
	gate     chan struct{}
	gateOnce sync.Once
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	closed   bool
	wg       sync.WaitGroup
}

// NewRelay returns a relay; max <= 0 means DefaultMaxConns.
func NewRelay(rules Rules, dial DialFunc, max int, log *slog.Logger) *Relay {
	if max <= 0 {
		max = DefaultMaxConns
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Relay{rules: rules, dial: dial, max: max, log: log, ctx: ctx, cancel: cancel, gate: make(chan struct{}), conns: make(map[net.Conn]struct{})}
}

// Open lets accepted visitors through to the upstream; until then they
// wait. Publishers open the relay once the forward's public port is set
// (sshserver.Forward.SetPublicPort). Idempotent.
func (r *Relay) Open() { r.gateOnce.Do(func() { close(r.gate) }) }

// Rules returns the relay's rules.
func (r *Relay) Rules() *Rules { return &r.rules }

// Serve takes ownership of visitor and serves it in the background. A
// visitor the rules refuse, or one over the connection limit, is closed at
// once without opening an upstream.
func (r *Relay) Serve(visitor net.Conn) {
	addr := AddrPort(visitor.RemoteAddr())
	if !r.rules.Admit(addr.Addr()) {
		r.log.Debug("visitor refused by CIDR rules", "visitor", addr.Addr())
		visitor.Close()
		return
	}
	r.mu.Lock()
	if r.closed || len(r.conns) >= r.max {
		r.mu.Unlock()
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
		r.handle(visitor, addr)
	}()
}

func (r *Relay) handle(visitor net.Conn, addr netip.AddrPort) {
	select {
	case <-r.gate:
	case <-r.ctx.Done():
		visitor.Close()
		return
	}
	up, err := r.dial(r.ctx, addr)
	if err != nil {
		r.log.Debug("upstream dial failed", "err", err)
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
	Splice(visitor, up)
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
