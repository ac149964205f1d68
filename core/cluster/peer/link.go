package peer

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	proxyproto "github.com/pires/go-proxyproto"

	"github.com/sshgress/sshgress/core/relay"
	"github.com/sshgress/sshgress/core/route"
)

// ErrNotOwner is returned by Relay when the dialed node does not hold the
// name (its view was fresher than the relaying node's): look the name up
// again and relay once more, never more.
var ErrNotOwner = errors.New("cluster: the node dialed does not hold the name")

// The verdict the owner sends back before any of the visitor's bytes flow.
const (
	verdictOwner    byte = 0x00
	verdictNotOwner byte = 0x01
)

// tlvKind carries the kind of the name (route.Kind) in the PROXY header;
// PP2_TYPE_AUTHORITY carries the name itself.
const tlvKind = proxyproto.PP2_TYPE_MIN_CUSTOM

// defaultIdleTimeout is Server.IdleTimeout's default.
const defaultIdleTimeout = 60 * time.Second

// Bounds of the link.
var (
	// handshakeTimeout bounds a TLS handshake on either side.
	handshakeTimeout = 10 * time.Second
	// warmMaxAge is how old a warm connection the dialer still uses (well
	// under the listener's default IdleTimeout, so the listener never closes one being taken).
	warmMaxAge = 30 * time.Second
	// verdictTimeout bounds the wait for the owner's verdict.
	verdictTimeout = 5 * time.Second
)

// maxWarm bounds Dialer.Warm.
const maxWarm = 64

// defaultMaxConns bounds the listener's connections when Server.MaxConns
// is zero.
const defaultMaxConns = 4096

// Header is what the relaying node tells the owner about a visitor's
// stream.
type Header struct {
	// Name is the public name (normalised) the stream is for.
	Name string
	// Kind is the kind of endpoint the relaying node expects to hold it.
	Kind route.Kind
	// Source is the visitor's address; Dest the public address it reached.
	Source, Dest netip.AddrPort
	// Peeked are the bytes the relaying node read to route the stream (a
	// TLS ClientHello, an HTTP head): they are sent first, and a refused
	// relay can replay them to another node.
	Peeked []byte
}

// Stream is a relayed visitor stream as the owner receives it: its bytes
// start with the relaying node's Peeked. Call Accept before using it, or
// Refuse.
type Stream struct {
	net.Conn
	// From is the relaying node, as its certificate names it.
	From string
	// Name, Kind, Source and Dest are the relaying node's Header.
	Name         string
	Kind         route.Kind
	Source, Dest netip.AddrPort
}

// Accept tells the relaying node that this node holds the name: the
// visitor's bytes flow from now on.
func (s *Stream) Accept() error {
	if _, err := s.Conn.Write([]byte{verdictOwner}); err != nil {
		return fmt.Errorf("cluster: accept relayed stream: %w", err)
	}
	return nil
}

// Refuse tells the relaying node that this node does not hold the name,
// and closes the stream.
func (s *Stream) Refuse() {
	_ = s.Conn.SetWriteDeadline(time.Now().Add(verdictTimeout))
	_, _ = s.Conn.Write([]byte{verdictNotOwner})
	_ = s.Conn.Close()
}

// Server is the peer listener's side of the link.
type Server struct {
	// ID is this node's identity.
	ID *Identity
	// Handle is called, on its own goroutine, with each relayed stream;
	// it must call Accept or Refuse, and close the stream when done.
	Handle func(*Stream)
	// MaxConns bounds the connections open at once (warm ones included);
	// more are closed at once. Zero means 4096.
	MaxConns int
	// IdleTimeout is how long a handshaken connection may wait for its
	// header (the life of a warm connection); zero means 60 s, which a
	// Dialer's warm connections stay well under.
	IdleTimeout time.Duration
	// Log, if set, is told why a connection was dropped (never a secret).
	Log func(msg string, err error)
}

// Serve accepts peer connections on ln until it fails or is closed.
func (s *Server) Serve(ln net.Listener) error {
	max := s.MaxConns
	if max <= 0 {
		max = defaultMaxConns
	}
	slots := make(chan struct{}, max)
	cfg := s.ID.ServerConfig()
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		select {
		case slots <- struct{}{}:
		default:
			_ = c.Close()
			s.log("peer connection refused: too many open", nil)
			continue
		}
		go func() {
			defer func() { <-slots }()
			s.serveConn(tls.Server(c, cfg))
		}()
	}
}

func (s *Server) log(msg string, err error) {
	if s.Log != nil {
		s.Log(msg, err)
	}
}

// serveConn handshakes, waits for the header, and hands the stream on.
func (s *Server) serveConn(tc *tls.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		_ = tc.Close()
		s.log("peer handshake failed", err)
		return
	}
	cs := tc.ConnectionState()
	if len(cs.PeerCertificates) == 0 { // a resumed session carries them too
		_ = tc.Close()
		s.log("peer handshake without a certificate", nil)
		return
	}
	from := cs.PeerCertificates[0].Subject.CommonName
	// A warm connection waits here until the relaying node uses it.
	idle := s.IdleTimeout
	if idle <= 0 {
		idle = defaultIdleTimeout
	}
	_ = tc.SetReadDeadline(time.Now().Add(idle))
	br := bufio.NewReader(tc)
	h, err := proxyproto.Read(br)
	if err != nil {
		_ = tc.Close()
		if !errors.Is(err, io.EOF) {
			s.log("peer stream without a valid header from "+from, err)
		}
		return
	}
	st, err := streamFrom(h)
	if err != nil {
		_ = tc.Close()
		s.log("peer stream header from "+from, err)
		return
	}
	_ = tc.SetReadDeadline(time.Time{})
	st.Conn = &bufferedConn{Conn: tc, r: br}
	st.From = from
	s.Handle(st)
}

// streamFrom reads a Stream's fields from a PROXY header.
func streamFrom(h *proxyproto.Header) (*Stream, error) {
	tlvs, err := h.TLVs()
	if err != nil {
		return nil, err
	}
	st := &Stream{}
	for _, t := range tlvs {
		switch t.Type {
		case proxyproto.PP2_TYPE_AUTHORITY:
			st.Name = string(t.Value)
		case tlvKind:
			if len(t.Value) == 1 {
				st.Kind = route.Kind(t.Value[0])
			}
		}
	}
	if st.Name == "" || st.Kind == 0 {
		return nil, errors.New("cluster: relayed stream names no name or kind")
	}
	if src, dst, ok := h.TCPAddrs(); ok {
		st.Source, st.Dest = src.AddrPort(), dst.AddrPort()
	}
	return st, nil
}

// bufferedConn reads what the header's reader buffered first.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// Dialer is the relaying side of the link. It keeps up to Warm handshaken
// connections to each peer it has relayed to, so a relay costs a header
// and a round trip, not a TLS handshake. Its zero value is not usable:
// set ID.
type Dialer struct {
	// ID is this node's identity.
	ID *Identity
	// Warm is how many handshaken idle connections are kept per peer
	// (at most 64); zero keeps none.
	Warm int

	mu        sync.Mutex
	configs   map[string]*tls.Config // by node: one session cache each
	idle      map[string][]warmConn  // by node+" "+addr
	refilling map[string]bool
	closed    bool
	stats     Stats
	refills   sync.WaitGroup
}

type warmConn struct {
	c    *tls.Conn
	made time.Time
}

// Stats counts how relays found their connection.
type Stats struct {
	// Warm relays took a handshaken connection; Fresh ones dialed.
	Warm, Fresh int64
}

// Stats returns the counts so far.
func (d *Dialer) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stats
}

// Relay opens a stream for h to node at addr: it sends the header and
// h.Peeked, and returns once node has accepted the stream, with the
// connection on which the rest of the visitor's bytes go both ways. It
// returns ErrNotOwner when node refuses. A warm connection found dead is
// replaced by a fresh one once.
func (d *Dialer) Relay(ctx context.Context, node, addr string, h Header) (net.Conn, error) {
	msg, err := encode(h)
	if err != nil {
		return nil, err
	}
	key := node + " " + addr
	if c := d.takeWarm(key); c != nil {
		d.refill(node, addr)
		conn, err := open(ctx, c, msg)
		if err == nil || errors.Is(err, ErrNotOwner) {
			d.count(true)
			return conn, err
		}
		// The peer closed it meanwhile (restart, idle timeout): dial.
	}
	c, err := d.dial(ctx, node, addr)
	if err != nil {
		return nil, err
	}
	d.refill(node, addr)
	d.count(false)
	return open(ctx, c, msg)
}

func (d *Dialer) count(warm bool) {
	d.mu.Lock()
	if warm {
		d.stats.Warm++
	} else {
		d.stats.Fresh++
	}
	d.mu.Unlock()
}

// open sends msg on c and waits for the verdict.
func open(ctx context.Context, c *tls.Conn, msg []byte) (net.Conn, error) {
	deadline := time.Now().Add(verdictTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = c.SetDeadline(deadline)
	if _, err := c.Write(msg); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("cluster: relay to %s: %w", c.ConnectionState().ServerName, err)
	}
	var v [1]byte
	if _, err := io.ReadFull(c, v[:]); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("cluster: relay to %s: no verdict: %w", c.ConnectionState().ServerName, err)
	}
	_ = c.SetDeadline(time.Time{})
	switch v[0] {
	case verdictOwner:
		return c, nil
	case verdictNotOwner:
		_ = c.Close()
		return nil, ErrNotOwner
	}
	_ = c.Close()
	return nil, fmt.Errorf("cluster: relay to %s: unknown verdict %#x", c.ConnectionState().ServerName, v[0])
}

// encode is the PROXY v2 header for h followed by h.Peeked.
func encode(h Header) ([]byte, error) {
	if h.Name == "" || h.Kind == 0 {
		return nil, errors.New("cluster: relay: a header needs a name and a kind")
	}
	src, dst := h.Source, h.Dest
	if !src.IsValid() {
		src = netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	}
	if !dst.IsValid() {
		dst = netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	}
	ph := relay.ProxyHeader(2, src, dst)
	if err := ph.SetTLVs([]proxyproto.TLV{
		{Type: proxyproto.PP2_TYPE_AUTHORITY, Value: []byte(h.Name)},
		{Type: tlvKind, Value: []byte{byte(h.Kind)}},
	}); err != nil {
		return nil, fmt.Errorf("cluster: relay header: %w", err)
	}
	b, err := ph.Format()
	if err != nil {
		return nil, fmt.Errorf("cluster: relay header: %w", err)
	}
	return append(b, h.Peeked...), nil
}

// dial makes a handshaken connection to node at addr.
func (d *Dialer) dial(ctx context.Context, node, addr string) (*tls.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	td := &tls.Dialer{Config: d.config(node)}
	c, err := td.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cluster: dial peer %s at %s: %w", node, addr, err)
	}
	return c.(*tls.Conn), nil
}

// config is the client configuration for node, kept so that its session
// cache lets later handshakes resume (TLS 1.3 PSK: no certificates sent
// or verified again, about half the cost of a full handshake).
func (d *Dialer) config(node string) *tls.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c, ok := d.configs[node]; ok {
		return c
	}
	c := d.ID.ClientConfig(node)
	c.ClientSessionCache = tls.NewLRUClientSessionCache(maxWarm)
	if d.configs == nil {
		d.configs = map[string]*tls.Config{}
	}
	d.configs[node] = c
	return c
}

// takeWarm returns a warm connection for key young enough to use, closing
// older ones, or nil.
func (d *Dialer) takeWarm(key string) *tls.Conn {
	d.mu.Lock()
	defer d.mu.Unlock()
	cs := d.idle[key]
	for len(cs) > 0 {
		w := cs[len(cs)-1]
		cs = cs[:len(cs)-1]
		if time.Since(w.made) < warmMaxAge {
			d.idle[key] = cs
			return w.c
		}
		_ = w.c.Close()
	}
	delete(d.idle, key)
	return nil
}

// refill tops the warm connections to node up to Warm, on one goroutine
// per peer at a time.
func (d *Dialer) refill(node, addr string) {
	want := min(d.Warm, maxWarm)
	if want <= 0 {
		return
	}
	key := node + " " + addr
	d.mu.Lock()
	if d.closed || d.refilling[key] {
		d.mu.Unlock()
		return
	}
	if d.refilling == nil {
		d.refilling = map[string]bool{}
		d.idle = map[string][]warmConn{}
	}
	d.refilling[key] = true
	d.refills.Add(1)
	d.mu.Unlock()
	go func() {
		defer d.refills.Done()
		defer func() {
			d.mu.Lock()
			delete(d.refilling, key)
			d.mu.Unlock()
		}()
		for {
			d.mu.Lock()
			n := len(d.idle[key])
			closed := d.closed
			d.mu.Unlock()
			if closed || n >= want {
				return
			}
			c, err := d.dial(context.Background(), node, addr)
			if err != nil {
				return // the next relay dials, and tries again
			}
			d.mu.Lock()
			if d.closed {
				d.mu.Unlock()
				_ = c.Close()
				return
			}
			d.idle[key] = append(d.idle[key], warmConn{c: c, made: time.Now()})
			d.mu.Unlock()
		}
	}()
}

// Close closes the warm connections and stops keeping any; it returns
// once no refill runs (one may finish its dial first, bounded by the
// handshake timeout).
func (d *Dialer) Close() {
	d.mu.Lock()
	d.closed = true
	idle := d.idle
	d.idle = nil
	d.mu.Unlock()
	for _, cs := range idle {
		for _, w := range cs {
			_ = w.c.Close()
		}
	}
	d.refills.Wait()
}
