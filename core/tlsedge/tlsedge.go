// Package tlsedge is the edge's shared TLS port. For each visitor
// connection it reads the ClientHello (bounded in time and size), routes by
// SNI, and then either
//
//   - passes the raw bytes through to a tls endpoint's tunnel without
//     terminating TLS (the visitor sees the user's own certificate), with
//     the endpoint's CIDR rules and PROXY header (core/relay), refusing
//     a ClientHello that came back through the tunnel itself (a local
//     target that is this port: relay.Relay.ServeHello), or
//   - terminates TLS for a name an http endpoint serves, with a certificate
//     from core/certs, and hands the *tls.Conn to the HTTP edge (HTTP/1.1
//     and HTTP/2), or
//   - answers an ACME tls-alpn-01 challenge, or
//   - answers plain HTTP sent to this port with a 400 that says to use
//     https,
//
// and closes every other connection: an unknown name never reaches a
// certificate source, so it can never start an ACME order.
package tlsedge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sshgress/sshgress/core/accesslog"
	"github.com/sshgress/sshgress/core/account"
	"github.com/sshgress/sshgress/core/certs"
	"github.com/sshgress/sshgress/core/connlisten"
	"github.com/sshgress/sshgress/core/cryptopolicy"
	"github.com/sshgress/sshgress/core/relay"
	"github.com/sshgress/sshgress/core/route"
	"github.com/sshgress/sshgress/core/tunnel"
	"github.com/sshgress/sshgress/core/usererr"
	"github.com/sshgress/sshgress/sdk"
)

// Defaults for Options.
const (
	// DefaultHelloTimeout bounds reading a ClientHello.
	DefaultHelloTimeout = 10 * time.Second
	// DefaultMaxHello bounds a ClientHello's bytes.
	DefaultMaxHello = 64 << 10
	// DefaultMaxPending bounds connections still sending their ClientHello.
	DefaultMaxPending = 4096
)

// Terminator is the HTTP side: which names it serves.
type Terminator interface {
	// Serves reports whether an http endpoint serves the normalised name,
	// or the edge itself does (IsSystemHost).
	Serves(name string) bool
	// IsSystemHost reports whether the edge itself serves the normalised
	// name (the OAuth auth host), which no tunnel may claim.
	IsSystemHost(name string) bool
}

// Options configures an Edge.
type Options struct {
	// BaseDomain is the normalised base domain (random names go under it).
	BaseDomain string
	// Accounts holds name reservations; may be nil.
	Accounts *account.Directory
	// PublicPort is the port shown in tls:// URLs (443 is left out).
	PublicPort int
	// Certs picks certificates for terminated names; required.
	Certs *certs.Manager
	// HTTP reports the names to terminate; required.
	HTTP Terminator
	// Names is the edge's one name registry, shared with the http and tcp
	// endpoint types, which refuses an SNI name an http tunnel holds (and
	// the reverse) in the claim itself; a private route.Memory when nil.
	Names route.Registry
	// HelloTimeout bounds reading a ClientHello. Default 10s.
	HelloTimeout time.Duration
	// MaxHello bounds a ClientHello's bytes. Default 64 KiB.
	MaxHello int
	// MaxPending bounds connections still sending their ClientHello.
	// Default 4096.
	MaxPending int
	// Logger receives operator logs.
	Logger *slog.Logger
	// Access is the access log: one line per visitor connection; nil
	// when it is off.
	Access *accesslog.Log
}

// Edge serves the shared TLS port.
type Edge struct {
	opts   Options
	log    *slog.Logger
	namer  *route.Namer
	names  route.Registry
	tlsCfg *tls.Config
	shim   *connlisten.Listener

	pending  atomic.Int64
	poolTurn atomic.Uint32 // rotates where pick starts (pool.go)
	mu       sync.Mutex
	lns      []net.Listener
	closed   bool
	wg       sync.WaitGroup
}

// New returns an Edge; call Serve with the TLS listener and hand
// HTTPListener to the HTTP edge.
func New(opts Options) *Edge {
	if opts.HelloTimeout <= 0 {
		opts.HelloTimeout = DefaultHelloTimeout
	}
	if opts.MaxHello <= 0 {
		opts.MaxHello = DefaultMaxHello
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = DefaultMaxPending
	}
	if opts.PublicPort <= 0 {
		opts.PublicPort = 443
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Names == nil {
		opts.Names = route.NewMemory()
	}
	e := &Edge{
		opts:  opts,
		log:   opts.Logger,
		namer: &route.Namer{Base: opts.BaseDomain, Accounts: opts.Accounts},
		names: opts.Names,
	}
	e.tlsCfg = &tls.Config{
		MinVersion:   tls.VersionTLS12,
		CipherSuites: cryptopolicy.TLS12CipherSuites,
		NextProtos:   opts.Certs.NextProtos(),
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			name, err := route.Normalize(hello.ServerName)
			if err != nil {
				return nil, err
			}
			hello.ServerName = name
			return opts.Certs.GetCertificate(hello)
		},
	}
	e.shim = connlisten.New()
	return e
}

// HTTPListener returns the listener of terminated connections (*tls.Conn,
// handshake pending) for the HTTP edge's ServeTLS. Its Addr is the TLS
// port's address once Serve runs.
func (e *Edge) HTTPListener() net.Listener { return e.shim }

// Serve accepts visitors on l until Close. It returns nil after Close.
func (e *Edge) Serve(l net.Listener) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		l.Close()
		return nil
	}
	e.lns = append(e.lns, l)
	e.shim.SetAddr(l.Addr())
	e.mu.Unlock()
	for {
		c, err := l.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			e.mu.Lock()
			closed := e.closed
			e.mu.Unlock()
			if closed {
				return nil
			}
			return err
		}
		if e.pending.Add(1) > int64(e.opts.MaxPending) {
			e.pending.Add(-1)
			c.Close()
			continue
		}
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			e.route(c)
		}()
	}
}

// route reads the ClientHello and dispatches the connection.
func (e *Edge) route(c net.Conn) {
	c.SetReadDeadline(time.Now().Add(e.opts.HelloTimeout))
	raw, hello, err := ReadClientHello(c, e.opts.MaxHello)
	e.pending.Add(-1)
	if errors.Is(err, ErrNotTLS) && LooksLikeHTTP(raw) {
		e.log.Debug("plain HTTP on the TLS port; answered 400", "remote", c.RemoteAddr())
		answerPlainHTTP(c, e.opts.MaxHello)
		return
	}
	if err != nil {
		e.log.Debug("no usable client hello", "remote", c.RemoteAddr(), "err", err)
		c.Close()
		return
	}
	name, err := route.Normalize(hello.ServerName)
	if err != nil {
		e.log.Debug("client hello without a valid SNI name", "remote", c.RemoteAddr())
		c.Close()
		return
	}
	pc := &prefixConn{Conn: c, prefix: raw}
	if certs.IsChallenge(hello.ALPN) {
		e.answerChallenge(pc, name)
		return
	}
	if ep, ok := e.lookup(name); ok {
		c.SetReadDeadline(time.Time{})
		ep.relay.ServeHello(pc, raw)
		return
	}
	if e.opts.HTTP.Serves(name) {
		c.SetReadDeadline(time.Time{})
		if !e.shim.Deliver(tls.Server(pc, e.tlsCfg)) {
			c.Close()
		}
		return
	}
	e.log.Debug("unknown SNI name; connection closed", "sni", name, "remote", c.RemoteAddr())
	c.Close()
}

// answerChallenge completes a tls-alpn-01 validation handshake for a
// served name and closes the connection.
func (e *Edge) answerChallenge(pc *prefixConn, name string) {
	defer pc.Close()
	if !e.opts.Certs.ACMEEnabled() || !e.opts.HTTP.Serves(name) {
		return
	}
	tc := tls.Server(pc, e.tlsCfg)
	ctx, cancel := context.WithTimeout(context.Background(), e.opts.HelloTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		e.log.Debug("acme challenge handshake failed", "sni", name, "err", err)
	}
}

// Close stops accepting and closes the HTTP listener shim; passthrough
// connections end with their endpoints. It waits for connections still in
// their ClientHello.
func (e *Edge) Close() {
	e.mu.Lock()
	e.closed = true
	lns := e.lns
	e.mu.Unlock()
	for _, l := range lns {
		l.Close()
	}
	e.shim.Close()
	e.wg.Wait()
}

// Publish binds a kind "tls" binding: the SNI name resolved with the same
// rules as http names, passed through to the forward's tunnel.
func (e *Edge) Publish(ctx context.Context, req *tunnel.BindRequest, b sdk.Binding) (tunnel.Endpoint, error) {
	if b.Kind != sdk.KindTLS {
		return nil, fmt.Errorf("tlsedge: publish: binding kind %q", b.Kind)
	}
	rules, err := relay.RulesFrom(b)
	if err != nil {
		return nil, err
	}
	if req.Pool && route.AsksRandom(b.SNIName) && req.Owner.Stable == 0 {
		return nil, usererr.New(poolNeedsName)
	}
	f := req.Forward
	f.SetPublicPort(uint32(e.opts.PublicPort))
	ep := &endpoint{edge: e, fwd: f, pooled: req.Pool}
	if ep.pooled {
		ep.notes.Line = req.Console.Line
	}
	ep.relay = relay.New(rules, f.Dial, 0, e.log)
	ep.relay.CountInto(f.Stats())
	ep.relay.ReportTo(req.Console.Line)
	if ep.pooled {
		ep.relay.RetryElsewhere(ep.retryElsewhere)
	}
	if err := e.claim(ctx, ep, req.TunnelID, route.ClaimantOf(req.Owner), b.SNIName, route.PoolTerms(req.PluginValues, route.KindTLS.String())); err != nil {
		ep.relay.Close()
		return nil, err
	}
	ep.relay.LogAccessTo(e.opts.Access, accesslog.Conn{Tunnel: req.TunnelID, Account: req.Owner.Account, Type: req.Command, Host: ep.name, Port: e.opts.PublicPort})
	ep.url = "tls://" + ep.name
	if e.opts.PublicPort != 443 {
		ep.url += ":" + strconv.Itoa(e.opts.PublicPort)
	}
	return ep, nil
}

// claim resolves and binds the SNI name (route.Bind, as the HTTP edge
// does for hosts). A name the edge serves itself is not available; one an
// http tunnel holds is refused by the registry.
func (e *Edge) claim(ctx context.Context, ep *endpoint, tunnelID string, who route.Claimant, remote, terms string) error {
	want := route.Claim{Kind: route.KindTLS, Tunnel: tunnelID, Member: ep, Pool: ep.pooled}
	if ep.pooled {
		want.PoolTerms = terms
	}
	name, prev, err := route.Bind(ctx, e.names, e.namer, who, remote, want, func(name string) error {
		if e.opts.HTTP.IsSystemHost(name) {
			return usererr.Errorf("%s is used by the edge itself; pick another name", name)
		}
		return nil
	})
	if err != nil {
		return err
	}
	ep.name = name
	if ep.pooled {
		ep.poolSize = e.tellPool(name, ep, true)
	}
	for _, p := range prev {
		// As the HTTP edge does: tell the old connection, then close off
		// the newer connection's path (closing writes to a frozen client).
		if old, ok := p.Member.(*endpoint); ok {
			old.fwd.TakenOver(name)
			go old.Close()
		}
	}
	return nil
}

// Serves reports whether name is bound to a tls passthrough tunnel.
func (e *Edge) Serves(name string) bool {
	_, ok := e.lookup(name)
	return ok
}

// lookup returns the tls endpoint bound to the normalised name: for a
// pooled name, the member to serve the next connection (pick).
func (e *Edge) lookup(name string) (*endpoint, bool) {
	ep := e.pick(e.names.Members(name, route.KindTLS), nil)
	return ep, ep != nil
}

// endpoint is one published tls passthrough forward.
type endpoint struct {
	edge  *Edge
	name  string
	url   string
	relay *relay.Relay
	fwd   tunnel.Dialer // told when a newer connection takes the name
	once  sync.Once
	// pooled marks a member of a pool (--pooling-enabled), poolSize its
	// members at bind.
	pooled   bool
	poolSize int
	notes    tunnel.PoolNotices
}

// URL returns tls://name.
func (ep *endpoint) URL() string { return ep.url }

func (ep *endpoint) Port() uint32         { return uint32(ep.edge.opts.PublicPort) }
func (ep *endpoint) Protection() []string { return ep.relay.Rules().Protection() }

// Close removes the route at once and ends the connections. Idempotent.
func (ep *endpoint) Close() {
	ep.once.Do(func() {
		if ep.name != "" && ep.edge.names.Release(ep.name, ep) && ep.pooled {
			ep.edge.tellPool(ep.name, ep, false)
		}
		ep.relay.Close()
	})
}
