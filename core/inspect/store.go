package inspect

import (
	"container/list"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// Bounds of what is kept; Options' zero fields take the defaults.
const (
	// MaxExchanges is how many exchanges a tunnel keeps at most.
	MaxExchanges = 50
	// MaxBodyBytes is how much of each request and response body is kept.
	MaxBodyBytes = 64 << 10
	// maxHeadBytes is how much of each header (names and values) is kept.
	maxHeadBytes = 64 << 10
	// DefaultTunnelBytes caps one tunnel's kept exchanges.
	DefaultTunnelBytes = 8 << 20
	// DefaultEdgeBytes caps all tunnels' kept exchanges together (config
	// limits.inspector_bytes).
	DefaultEdgeBytes = 256 << 20
	// exchangeOverhead is what an exchange is counted beyond its heads
	// and bodies (the struct, the strings' headers).
	exchangeOverhead = 512
)

// Options configures a Store. The zero value takes the defaults.
type Options struct {
	// TunnelBytes caps the bytes one tunnel keeps. Default
	// DefaultTunnelBytes.
	TunnelBytes int64
	// EdgeBytes caps the bytes all tunnels keep together. Default
	// DefaultEdgeBytes.
	EdgeBytes int64
	// BaseURL is the inspector host's origin, e.g.
	// "https://inspect.example.com"; tunnel links start with it.
	BaseURL string
}

// Store holds the inspected tunnels of one edge and their exchanges. It is
// safe for concurrent use; one lock guards it, taken once when a tunnel
// opens or closes and once per finished exchange.
type Store struct {
	opts Options

	mu      sync.Mutex
	used    int64                // bytes of every kept exchange
	order   *list.List           // every kept *Exchange, oldest first
	byToken map[[32]byte]*Tunnel // sha256 of the token
	byID    map[string]*Tunnel
}

// New returns an empty Store.
func New(opts Options) *Store {
	if opts.TunnelBytes <= 0 {
		opts.TunnelBytes = DefaultTunnelBytes
	}
	if opts.EdgeBytes <= 0 {
		opts.EdgeBytes = DefaultEdgeBytes
	}
	return &Store{opts: opts, order: list.New(), byToken: map[[32]byte]*Tunnel{}, byID: map[string]*Tunnel{}}
}

// Used returns the bytes the kept exchanges of every tunnel count.
func (s *Store) Used() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.used
}

// Tunnels returns how many tunnels are inspected now.
func (s *Store) Tunnels() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID)
}

// Exchanges returns every tunnel's kept exchanges, oldest first (for
// tests and status).
func (s *Store) Exchanges() []*Exchange {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Exchange, 0, s.order.Len())
	for el := s.order.Front(); el != nil; el = el.Next() {
		out = append(out, el.Value.(*Exchange))
	}
	return out
}

// Replay is a request the owner sends again through the tunnel.
type Replay struct {
	Method string
	// Target is the request target (path and query).
	Target string
	Header http.Header
	Body   []byte
	// Visitor is the address of the owner's browser.
	Visitor netip.AddrPort
}

// ReplayFunc sends a replay through the tunnel to the local service and
// returns the id of the exchange it was captured as (0 if none).
type ReplayFunc func(ctx context.Context, r Replay) (id int, err error)

// Tunnel is one inspected tunnel.
type Tunnel struct {
	store  *Store
	id     string // public: the path of its pages
	token  string // secret: the banner's link and the cookie
	url    string // the tunnel's public URL
	replay ReplayFunc

	// Guarded by store.mu.
	items  []*list.Element // its kept exchanges, oldest first
	bytes  int64
	nextID int
	closed bool
}

// Open registers a tunnel (its public URL) and returns it; replay sends
// replays through it. Close it when the tunnel closes.
func (s *Store) Open(url string, replay ReplayFunc) *Tunnel {
	t := &Tunnel{store: s, id: randomHex(8), token: randomHex(32), url: url, replay: replay}
	s.mu.Lock()
	s.byToken[sha256.Sum256([]byte(t.token))] = t
	s.byID[t.id] = t
	s.mu.Unlock()
	return t
}

// URL returns the private link to the tunnel's inspector (for the banner).
func (t *Tunnel) URL() string { return t.store.opts.BaseURL + tokenPath + t.token }

// Used returns the bytes the tunnel's kept exchanges count.
func (t *Tunnel) Used() int64 {
	t.store.mu.Lock()
	defer t.store.mu.Unlock()
	return t.bytes
}

// Close forgets the tunnel and frees its exchanges; its link stops
// working. Idempotent.
func (t *Tunnel) Close() {
	if t == nil {
		return
	}
	s := t.store
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.closed {
		return
	}
	t.closed = true
	for _, el := range t.items {
		s.used -= el.Value.(*Exchange).size
		s.order.Remove(el)
	}
	t.items, t.bytes = nil, 0
	delete(s.byToken, sha256.Sum256([]byte(t.token)))
	delete(s.byID, t.id)
}

// add keeps a finished exchange, evicting the oldest ones (the tunnel's,
// then the edge's) while a cap is exceeded.
func (t *Tunnel) add(ex *Exchange) {
	s := t.store
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.closed || ex.size > s.opts.TunnelBytes || ex.size > s.opts.EdgeBytes {
		return
	}
	t.nextID++
	ex.ID = t.nextID
	ex.tunnel = t
	t.items = append(t.items, s.order.PushBack(ex))
	t.bytes += ex.size
	s.used += ex.size
	for len(t.items) > MaxExchanges || t.bytes > s.opts.TunnelBytes {
		s.evict(t.items[0])
	}
	for s.used > s.opts.EdgeBytes {
		s.evict(s.order.Front())
	}
}

// evict drops one kept exchange. s.mu is held.
func (s *Store) evict(el *list.Element) {
	ex := el.Value.(*Exchange)
	t := ex.tunnel
	s.order.Remove(el)
	s.used -= ex.size
	t.bytes -= ex.size
	for i, e := range t.items {
		if e == el {
			t.items = append(t.items[:i:i], t.items[i+1:]...)
			break
		}
	}
}

// Exchanges returns the tunnel's kept exchanges, newest first.
func (t *Tunnel) Exchanges() []*Exchange {
	t.store.mu.Lock()
	defer t.store.mu.Unlock()
	out := make([]*Exchange, len(t.items))
	for i, el := range t.items {
		out[len(out)-1-i] = el.Value.(*Exchange)
	}
	return out
}

// Exchange returns the kept exchange with the given id.
func (t *Tunnel) Exchange(id int) (*Exchange, bool) {
	t.store.mu.Lock()
	defer t.store.mu.Unlock()
	for _, el := range t.items {
		if ex := el.Value.(*Exchange); ex.ID == id {
			return ex, true
		}
	}
	return nil, false
}

// lookupToken finds an open tunnel by its secret token.
func (s *Store) lookupToken(token string) (*Tunnel, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.byToken[sha256.Sum256([]byte(token))]
	return t, ok
}

func (s *Store) lookupID(id string) (*Tunnel, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.byID[id]
	return t, ok
}

// Exchange is one kept request and its response. It is immutable once
// kept.
type Exchange struct {
	// ID numbers the tunnel's exchanges from 1.
	ID int
	// Replayed marks a request the inspector sent.
	Replayed bool

	Method string
	Target string // path and query
	Proto  string
	Host   string
	// Header is the request's header as the visitor sent it, redacted.
	Header  http.Header
	Body    Body
	Visitor netip.Addr

	// Status is the status sent to the visitor (0: none, the visitor
	// left or the exchange was aborted).
	Status int
	// RespHeader is the response's header, redacted.
	RespHeader http.Header
	RespBody   Body
	// HeadTruncated reports a request or response header cut to the
	// kept bound.
	HeadTruncated bool

	// Verdict is what the middleware decided ("" when the tunnel has
	// none).
	Verdict string

	Start time.Time
	// Took is the whole exchange; Upstream the local service's part
	// (0 when the request was not forwarded).
	Took, Upstream time.Duration

	size   int64
	tunnel *Tunnel
}

// Size returns the bytes the exchange counts against the caps.
func (ex *Exchange) Size() int64 { return ex.size }

// Body is a kept body: its first MaxBodyBytes bytes and its whole length.
type Body struct {
	Data []byte
	// Len is the body's length as it streamed.
	Len int64
}

// Truncated reports whether only part of the body was kept.
func (b Body) Truncated() bool { return int64(len(b.Data)) < b.Len }

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
