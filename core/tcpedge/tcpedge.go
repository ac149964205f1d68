// Package tcpedge publishes TCP endpoints: one public listener per tunnel,
// on a port an endpoint plugin asked for (a reserved address) or one the
// edge allocates from the plugin's range. Visitors are checked against the
// endpoint's CIDR rules at accept, get a PROXY protocol header upstream when
// asked, and are spliced to an SSH forwarded-tcpip channel with half-close
// passed on both ways. A tunnel whose local target is the edge's own port
// (a forwarding loop) is caught at run time and its looped connections
// refused. Each endpoint's visitors go through a core/relay Relay, which
// TLS passthrough (core/tlsedge) shares.
package tcpedge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"syscall"

	"github.com/sshgress/sshgress/core/accesslog"
	"github.com/sshgress/sshgress/core/account"
	"github.com/sshgress/sshgress/core/relay"
	"github.com/sshgress/sshgress/core/route"
	"github.com/sshgress/sshgress/core/tunnel"
	"github.com/sshgress/sshgress/core/usererr"
	"github.com/sshgress/sshgress/sdk"
)

// Options configures an Edge.
type Options struct {
	// ListenHost is the IP address or host the public listeners bind, ""
	// for every interface.
	ListenHost string
	// BaseDomain is the host shown in URLs when a binding names none.
	BaseDomain string
	// Accounts holds TCP address reservations; may be nil.
	Accounts *account.Directory
	// ExcludePorts are the edge's own ports, never handed out.
	ExcludePorts []int
	// MaxConns bounds live visitor connections per endpoint. Default
	// relay.DefaultMaxConns.
	MaxConns int
	// Names is the edge's one name registry, shared with the http and tls
	// endpoint types; a private route.Memory when nil. A tcp claim's name
	// is the address the edge listens on (ListenHost:port): the port is
	// the resource two tunnels cannot share, whatever host their URLs show.
	Names route.Registry
	// Logger receives operator logs.
	Logger *slog.Logger
	// Access is the access log: one line per visitor connection; nil
	// when it is off.
	Access *accesslog.Log
}

// maxAllocTries bounds the ports tried when allocating one.
const maxAllocTries = 128

// Edge owns the public TCP listeners. It is safe for concurrent use.
type Edge struct {
	opts  Options
	log   *slog.Logger
	names route.Registry

	// mu orders this edge's claims (only tcpedge claims KindTCP names, so
	// checking a holder's liveness and claiming under mu is one step) and
	// guards eps and closed.
	mu     sync.Mutex
	eps    map[*endpoint]bool    // endpoints holding a port
	shared map[int]*portListener // listeners of pooled ports, by port
	turn   uint32                // rotates where pick starts
	closed bool
}

// New returns an Edge.
func New(opts Options) *Edge {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Names == nil {
		opts.Names = route.NewMemory()
	}
	e := &Edge{opts: opts, log: opts.Logger, names: opts.Names, eps: map[*endpoint]bool{}, shared: map[int]*portListener{}}
	return e
}

// Publish binds a kind "tcp" binding for one forward and starts accepting
// visitors. A non-zero port must be reserved by the forward's account as
// host:port; port 0 takes a free port from the binding's range that is
// neither the edge's own nor reserved by any account. The owner's own
// reserved port held by an older session of the same account is taken
// over.
func (e *Edge) Publish(ctx context.Context, req *tunnel.BindRequest, b sdk.Binding) (tunnel.Endpoint, error) {
	if b.Kind != sdk.KindTCP {
		return nil, fmt.Errorf("tcpedge: publish: binding kind %q", b.Kind)
	}
	rules, err := relay.RulesFrom(b)
	if err != nil {
		return nil, err
	}
	host := b.Host
	if host == "" {
		host = e.opts.BaseDomain
	}
	ep := &endpoint{edge: e, owner: route.ClaimantOf(req.Owner).Owner(), tunnel: req.TunnelID, host: host, fwd: req.Forward, pooled: req.Pool}
	if ep.pooled {
		ep.notes.Line = req.Console.Line
	}
	var ln net.Listener
	switch {
	case req.Pool && b.Port == 0:
		return nil, usererr.New(poolNeedsAddress)
	case req.Pool:
		ep.lis, err = e.joinReserved(req.Owner, host, int(b.Port), ep, route.PoolTerms(req.PluginValues, route.KindTCP.String()))
	case b.Port != 0:
		ln, err = e.listenReserved(req.Owner, host, int(b.Port), ep)
	default:
		ln, err = e.listenRange(int(b.PortMin), int(b.PortMax), ep)
	}
	if err != nil {
		return nil, err
	}
	if ep.lis == nil {
		ep.lis = &portListener{ln: ln, done: make(chan struct{}), refs: 1, single: ep}
	}
	ep.port = ep.lis.ln.Addr().(*net.TCPAddr).Port
	ep.url = "tcp://" + net.JoinHostPort(host, strconv.Itoa(ep.port))
	f := req.Forward
	f.SetPublicPort(uint32(ep.port))
	ep.relay = relay.New(rules, f.Dial, e.opts.MaxConns, e.log)
	ep.relay.CountInto(f.Stats())
	ep.relay.ReportTo(req.Console.Line)
	ep.relay.LogAccessTo(e.opts.Access, accesslog.Conn{Tunnel: req.TunnelID, Account: req.Owner.Account, Type: req.Command, Host: host, Port: ep.port})
	ep.relay.GuardLoops(f.ClientAddr())
	if ep.pooled {
		ep.relay.RetryElsewhere(ep.retryElsewhere)
	}
	e.mu.Lock()
	ep.live = true
	closed := e.closed
	e.mu.Unlock()
	ep.lis.start.Do(func() { go e.accept(ep.lis) })
	if closed {
		ep.Close()
		return nil, usererr.New("the edge is shutting down")
	}
	return ep, nil
}

func (e *Edge) own(port int) bool {
	return slices.Contains(e.opts.ExcludePorts, port)
}

// reservedLive reports whether any account reserves port now: addresses
// reserved in the store after start-up are never handed out at random.
func (e *Edge) reservedLive(port int) bool {
	for _, a := range e.opts.Accounts.Accounts() {
		for _, addr := range a.TCPAddresses {
			if _, p, err := net.SplitHostPort(addr); err == nil && p == strconv.Itoa(port) {
				return true
			}
		}
	}
	return false
}

// reservedFor returns host:port if o's account reserved it and it is not
// one of the edge's own ports, else a user error saying which.
func (e *Edge) reservedFor(o tunnel.Owner, host string, port int) (string, error) {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	owner := e.opts.Accounts.TCPOwner(addr)
	if o.Account == "" || o.Anonymous || owner == nil || owner.Name != o.Account {
		return "", usererr.Errorf("tcp endpoints listen on remote port 0 (a random port) or on a TCP address reserved for your account; %s is not reserved for you", addr)
	}
	if e.own(port) {
		return "", usererr.Errorf("%s is one of the edge's own ports and cannot be published; ask the operator to fix the reservation", addr)
	}
	return addr, nil
}

// listenReserved binds the reserved host:port of o's account.
func (e *Edge) listenReserved(o tunnel.Owner, host string, port int, ep *endpoint) (net.Listener, error) {
	addr, err := e.reservedFor(o, host, port)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, usererr.New("the edge is shutting down")
	}
	if m, ok := e.names.Lookup(e.key(port), route.KindTCP); ok && !m.(*endpoint).live {
		// Still being published by another connection: not yet stale.
		e.mu.Unlock()
		return nil, usererr.Errorf("%s is in use by another tunnel", addr)
	}
	// Claim before the takeover, so nobody else races in.
	prev, err := e.claim(ep, port, true)
	e.mu.Unlock()
	if errors.Is(err, route.ErrPoolMismatch) {
		return nil, err
	}
	if err != nil {
		return nil, usererr.Errorf("%s is in use by another tunnel", addr)
	}
	for _, p := range prev {
		p.Member.(*endpoint).takenOver()
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(e.opts.ListenHost, strconv.Itoa(port)))
	if err != nil {
		e.release(port, ep)
		e.log.Warn("cannot listen on a reserved TCP port", "port", port, "err", err)
		return nil, usererr.Wrap(err, fmt.Sprintf("the edge could not listen on %s (the port is busy); tell the operator", addr))
	}
	return ln, nil
}

// listenRange binds a free port from lo to hi.
func (e *Edge) listenRange(lo, hi int, ep *endpoint) (net.Listener, error) {
	n := hi - lo + 1
	if lo < 1 || hi > 65535 || n <= 0 {
		return nil, fmt.Errorf("tcpedge: port range %d-%d", lo, hi)
	}
	start := rand.IntN(n)
	tries := min(n, maxAllocTries)
	// Walk the range from a random start with a stride coprime to n, so
	// consecutive tunnels do not get neighbouring ports.
	stride := 1
	if n > 2 {
		for _, s := range []int{7919, 104729, 1299709} {
			if gcd(s, n) == 1 {
				stride = s % n
				break
			}
		}
	}
	for i := range tries {
		port := lo + (start+i*stride)%n
		if e.own(port) || e.reservedLive(port) {
			continue
		}
		e.mu.Lock()
		if e.closed {
			e.mu.Unlock()
			return nil, usererr.New("the edge is shutting down")
		}
		if _, err := e.claim(ep, port, false); err != nil {
			e.mu.Unlock()
			continue
		}
		e.mu.Unlock()
		ln, err := net.Listen("tcp", net.JoinHostPort(e.opts.ListenHost, strconv.Itoa(port)))
		if err == nil {
			return ln, nil
		}
		e.release(port, ep)
		if !errors.Is(err, syscall.EADDRINUSE) && !errors.Is(err, syscall.EACCES) {
			return nil, fmt.Errorf("tcpedge: listen: %w", err)
		}
	}
	return nil, usererr.New("no free public TCP port was found; try again later, or ask the operator to widen the tcp port range")
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// key is the registry name of a port: the address the edge listens on.
func (e *Edge) key(port int) string {
	return net.JoinHostPort(e.opts.ListenHost, strconv.Itoa(port))
}

// claim binds port to ep in the registry (with takeover of the same
// owner's older endpoint when takeover is set) and returns the endpoints
// it replaced. The caller holds e.mu.
func (e *Edge) claim(ep *endpoint, port int, takeover bool) ([]route.Entry, error) {
	prev, err := e.names.Claim(context.Background(), route.Claim{
		Name: e.key(port), Kind: route.KindTCP, Owner: ep.owner, Takeover: takeover, Tunnel: ep.tunnel, Member: ep,
	})
	if err != nil {
		return nil, err
	}
	e.eps[ep] = true
	return prev, nil
}

func (e *Edge) release(port int, ep *endpoint) {
	e.mu.Lock()
	e.names.Release(e.key(port), ep)
	delete(e.eps, ep)
	e.mu.Unlock()
}

// Len returns the number of published TCP endpoints.
func (e *Edge) Len() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.eps)
}

// Close closes every endpoint and refuses new ones. Idempotent.
func (e *Edge) Close() {
	e.mu.Lock()
	e.closed = true
	eps := make([]*endpoint, 0, len(e.eps))
	for ep := range e.eps {
		if ep.live {
			eps = append(eps, ep)
		}
	}
	e.mu.Unlock()
	for _, ep := range eps {
		ep.Close()
	}
}

// endpoint is one published TCP forward.
type endpoint struct {
	edge     *Edge
	owner    string // route.Claimant.Owner of the forward's owner
	tunnel   string // tunnel ID
	host     string
	port     int
	url      string
	lis      *portListener // its own, or its pool's
	relay    *relay.Relay
	once     sync.Once
	live     bool          // fully published; guarded by edge.mu
	fwd      tunnel.Dialer // told when a newer connection takes the address
	pooled   bool          // a member of a pool (--pooling-enabled)
	poolSize int           // members of the pool at bind
	notes    tunnel.PoolNotices
}

// URL returns the tcp:// URL.
func (ep *endpoint) URL() string { return ep.url }

func (ep *endpoint) Port() uint32         { return uint32(ep.port) }
func (ep *endpoint) Protection() []string { return ep.relay.Rules().Protection() }

// accept serves the visitors of pl, each through the endpoint pick
// chooses.
func (e *Edge) accept(pl *portListener) {
	defer close(pl.done)
	for {
		c, err := pl.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetNoDelay(true)
		}
		ep := e.pick(pl, nil)
		if ep == nil {
			c.Close()
			continue
		}
		ep.relay.Serve(c)
	}
}

// Close leaves the port (for the last member of a pool, or an unpooled
// endpoint: closes the listener and frees the port) and ends every visitor
// connection. Idempotent.
func (ep *endpoint) Close() {
	ep.once.Do(func() {
		e := ep.edge
		e.mu.Lock()
		if e.names.Release(e.key(ep.port), ep) && ep.pooled {
			e.tellPool(ep.port, ep, false)
		}
		delete(e.eps, ep)
		pl := ep.lis
		pl.refs--
		last := pl.refs == 0
		if last {
			if e.shared[ep.port] == pl {
				delete(e.shared, ep.port)
			}
			pl.ln.Close() // under mu: a new pool's listener can bind the port once mu is free
		}
		e.mu.Unlock()
		if last {
			pl.start.Do(func() { close(pl.done) }) // never started: nothing to wait for
			<-pl.done
		}
		ep.relay.Close()
	})
}

// takenOver closes an endpoint whose reserved address the same account
// claimed from a newer connection, and tells its connection.
func (ep *endpoint) takenOver() {
	ep.fwd.TakenOver(net.JoinHostPort(ep.host, strconv.Itoa(ep.port)))
	ep.Close() // before the port is listened on again
}
