package forward

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"

	"github.com/sshgress/sshgress/core/tunnel"
)

// Options tunes an Upstream: its connection pool and the pages of the
// requests it fails itself. The zero value takes the documented defaults.
type Options struct {
	// MaxIdle is how many idle keep-alive connections are kept for reuse.
	// Default DefaultMaxIdle. Connections in use are not limited here.
	MaxIdle int
	// IdleTimeout closes connections idle for longer. Default
	// DefaultIdleTimeout. It is
	// checked when connections are taken and returned and by one timer per
	// Upstream (no goroutine per connection).
	IdleTimeout time.Duration
	// DialTimeout bounds opening a new connection; past it the visitor gets
	// an UpstreamDown page (502). Default tunnel.DefaultDialTimeout.
	DialTimeout time.Duration
	// KeepIdle is how many idle connections (the most recently used) may
	// stay for the whole IdleTimeout. Default 8. The rest, left over by a
	// burst of concurrent requests, are closed after BurstIdleTimeout:
	// every open channel costs the owner's ssh client work on each turn of
	// its event loop (50 idle channels slow a download through the same
	// client by a quarter, docs/performance.md).
	KeepIdle int
	// BurstIdleTimeout closes idle connections beyond KeepIdle. Default 5s.
	BurstIdleTimeout time.Duration
	// ErrorPage writes the page a visitor gets for a request Forward
	// fails itself (see Failure), with status f.Status(); the caller's
	// status pages go here. It must not read r.Body. Default: a short
	// plain-text page.
	ErrorPage func(w http.ResponseWriter, r *http.Request, f Failure)
}

// Defaults for Options' zero fields that core/config also uses
// (DialTimeout's is tunnel.DefaultDialTimeout).
const (
	DefaultMaxIdle     = 64
	DefaultIdleTimeout = 60 * time.Second
)

const (
	defaultKeepIdle  = 8
	defaultBurstIdle = 5 * time.Second
)

var errConnect = errors.New("forward: CONNECT is not forwarded")

// Upstream forwards requests to one tunnel's local service over pooled
// keep-alive connections. It is safe for concurrent use.
type Upstream struct {
	dial  tunnel.DialFunc
	opts  Options
	dials atomic.Uint64
	// respEdit rewrites every final response head (SetResponseEdit).
	respEdit atomic.Pointer[HeaderEdit]
	// review sees and edits every final response head
	// (SetResponseReview).
	review atomic.Pointer[ResponseReview]
	// host replaces every request's Host upstream (SetRequestHost).
	host atomic.Pointer[string]
	// h2 carries requests as HTTP/2 when set (UseHTTP2, h2.go), with
	// URLs of scheme h2Scheme; nil speaks HTTP/1.1 on pooled connections.
	h2       *http2.Transport
	h2Scheme string
	// tls, when set, is spoken over each HTTP/1.1 connection (UseTLS).
	tls *tls.Config
	// compress encodes compressible responses (SetCompression).
	compress atomic.Bool

	mu         sync.Mutex
	idle       []*pooledConn // LIFO: the most recently used connection is last
	closed     bool
	sweep      *time.Timer // closes expired idle connections; nil until first needed
	sweepArmed bool
	sweepAt    time.Time // when the armed sweep fires
	// h2conns are the HTTP/2 connections u.h2 opened, and h2active the
	// forwardH2 calls in progress: Close ends the connections once no
	// request uses them, which the transport's CloseIdleConnections alone
	// misses while it is still forgetting a stream that just ended.
	h2conns  map[net.Conn]struct{}
	h2active int
}

// NewUpstream returns an Upstream that opens connections with dial, with
// the visitor's address as the originator in the SSH channel. dial should
// return when its ctx is done; if it does not, Forward gives up on it at
// the dial timeout anyway and closes the connection once it arrives.
func NewUpstream(dial tunnel.DialFunc, opts Options) *Upstream {
	if opts.MaxIdle <= 0 {
		opts.MaxIdle = DefaultMaxIdle
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = tunnel.DefaultDialTimeout
	}
	if opts.KeepIdle <= 0 {
		opts.KeepIdle = defaultKeepIdle
	}
	if opts.BurstIdleTimeout <= 0 {
		opts.BurstIdleTimeout = defaultBurstIdle
	}
	opts.BurstIdleTimeout = min(opts.BurstIdleTimeout, opts.IdleTimeout)
	if opts.ErrorPage == nil {
		opts.ErrorPage = writePlainPage
	}
	return &Upstream{dial: dial, opts: opts}
}

// SetResponseEdit makes u apply e to the head of every final response of
// the upstream, after its hop-by-hop headers were left out and before the
// visitor gets it: not to 1xx responses, a 101 switch or the pages Forward
// writes itself. nil edits nothing, the default.
func (u *Upstream) SetResponseEdit(e *HeaderEdit) { u.respEdit.Store(e) }

// SetCompression makes u encode each final response the visitor accepts
// compressed and that compress.Encode finds worth it (a tunnel's
// --compression), as it streams; off by default. The visitor, the
// inspector and the access log get the encoded bytes.
func (u *Upstream) SetCompression(on bool) { u.compress.Store(on) }

// ResponseReview sees the head of one final response to r, with status
// and headers h (hop-by-hop headers left out), and may edit h in place. A
// non-nil error refuses the response: the visitor gets a ReviewFailed page
// instead, never the unreviewed response.
type ResponseReview func(r *http.Request, status int, h http.Header) error

// SetResponseReview makes u call review for the head of every final
// response of the upstream, before the edits of SetResponseEdit (which
// win) and before the visitor gets any byte of it: not for 1xx responses,
// a 101 switch or the pages Forward writes itself. On its error Forward
// writes a ReviewFailed page (503), closes the upstream connection and
// returns the error. nil reviews nothing, the default.
func (u *Upstream) SetResponseReview(review ResponseReview) {
	if review == nil {
		u.review.Store(nil)
		return
	}
	u.review.Store(&review)
}

// SetRequestHost makes u send host as the Host header of every request
// instead of the request's own (a tunnel's --host-header); "" sends the
// request's own, the default. The caller validates host
// (sdk.ValidHostHeader). X-Forwarded-Host is the caller's and keeps the
// public host.
func (u *Upstream) SetRequestHost(host string) {
	if host == "" {
		u.host.Store(nil)
		return
	}
	u.host.Store(&host)
}

// IdleCount returns how many idle connections the pool holds.
func (u *Upstream) IdleCount() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.idle)
}

// Dials returns how many connections the Upstream has tried to open.
func (u *Upstream) Dials() uint64 { return u.dials.Load() }

// Close closes the idle connections and makes later Forward calls fail
// fast with an UpstreamDown page. Requests in flight continue until their
// connection fails; their connections are closed instead of pooled. Close
// is idempotent.
func (u *Upstream) Close() {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return
	}
	u.closed = true
	idle := u.idle
	u.idle = nil
	if u.sweep != nil {
		u.sweep.Stop()
	}
	h2conns := u.h2Drained()
	u.mu.Unlock()
	for _, pc := range idle {
		_ = pc.c.Close()
	}
	if u.h2 != nil {
		u.h2.CloseIdleConnections()
	}
	closeAll(h2conns)
}

// Forward sends r to the upstream and streams the response to w. It
// returns the status code sent to the visitor (0 if none) and an error
// describing an upstream or visitor failure (nil on success).
//
// The caller has already stripped the visitor's hop-by-hop and edge-owned
// headers and set X-Forwarded-* (httpedge.StripVisitorHeaders and
// httpedge.SetForwarded). Forward does not modify r.Header; it leaves out
// hop-by-hop headers (RFC 9110 7.6.1 and those named in Connection) as it
// writes the request, except that an upgrade the visitor asked for
// (Connection: upgrade + Upgrade) is passed on, and Expect is dropped
// (net/http answers 100-continue itself). Request trailers go on only
// where forwardTrailer allows. The request goes out as HTTP/1.1 with a bare
// request target; CONNECT is answered with a MethodNotAllowed page (405)
// and never forwarded.
//
// Failures before the final response head (dial failure or timeout,
// upstream closed, invalid response) make Forward write an UpstreamDown or
// BadResponse page itself (Options.ErrorPage) and return 502; a bodyless
// request that fails for lack of an answer on a reused connection is first
// retried once on a new one. A tunnel at its channel limit gets an
// Unavailable page (503), a visitor's broken or stalled request body a
// BadBody (400) or BodyTimeout (408) page. If the visitor has gone
// (r.Context() canceled) the returned status is 0.
//
// A failure in the middle of a response body must be visible to the
// visitor as truncation, never as a complete response, so Forward then
// panics with http.ErrAbortHandler: net/http closes the visitor's
// connection (or resets the HTTP/2 stream) without a terminating chunk and
// logs nothing. Forward releases all its resources before it panics; the
// caller must not recover the panic (deferred functions still run). When
// the failure is the visitor itself going away (a write to w fails or
// r.Context() is canceled), Forward returns the error instead.
//
// A 101 Switching Protocols response hijacks the visitor's connection and
// splices it with the upstream connection until both directions end;
// Forward returns only then, with status 101.
//
// w must reach net/http's own ResponseWriter through http.ResponseController
// (a wrapper must implement Unwrap): Forward uses it to flush streamed
// responses, hijack for upgrades, enable full duplex for request bodies and
// interrupt a stalled upload. Forward must not be called after the handler
// returned, and r.Body must not be used by anyone else.
func (u *Upstream) Forward(w http.ResponseWriter, r *http.Request, visitor netip.AddrPort) (status int, err error) {
	status, _, err = u.forward(w, r, visitor, false)
	return status, err
}

// TryForward is Forward for one member of a pooled endpoint: when r has no
// body and no connection to the upstream can be had (the dial fails, the
// tunnel is at its channel limit, the Upstream is closed), it writes
// nothing to w and returns declined with the error, so the caller can send
// r to another member, or answer it with Unreachable. Nothing of r was
// sent then.
func (u *Upstream) TryForward(w http.ResponseWriter, r *http.Request, visitor netip.AddrPort) (status int, declined bool, err error) {
	return u.forward(w, r, visitor, true)
}

// Unreachable answers r, which TryForward declined with err, with the page
// Forward would have written, and returns the status Forward would have.
func (u *Upstream) Unreachable(w http.ResponseWriter, r *http.Request, err error) (int, error) {
	f := UpstreamDown
	if errors.Is(err, tunnel.ErrChannelLimit) {
		f = Unavailable
	}
	return u.failEarly(w, r, f, err)
}

func (u *Upstream) forward(w http.ResponseWriter, r *http.Request, visitor netip.AddrPort, decline bool) (status int, declined bool, err error) {
	if r.Method == http.MethodConnect {
		u.opts.ErrorPage(w, r, MethodNotAllowed)
		return MethodNotAllowed.Status(), false, errConnect
	}
	hasBody := r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
	upType := ""
	if !hasBody {
		upType = upgradeType(r.Header)
	}
	if u.h2 != nil && upType == "" {
		status, err := u.forwardH2(w, r, hasBody)
		return status, false, err
	}
	for attempt := 0; ; attempt++ {
		pc, err := u.get(r.Context(), visitor, attempt > 0)
		if err != nil {
			// A retry below happens only before any byte reached w.
			if decline && !hasBody {
				return 0, true, err
			}
			status, err := u.Unreachable(w, r, err)
			return status, false, err
		}
		status, retry, err := u.exchange(w, r, pc, hasBody, upType, attempt == 0)
		if !retry {
			return status, false, err
		}
	}
}

// failEarly answers a failure before any final response byte with f's
// page. If r.Context() was canceled the visitor has almost surely gone: the
// page is still written (so a visitor that is in fact there never gets an
// empty 200 from net/http), but the status reported is 0.
func (u *Upstream) failEarly(w http.ResponseWriter, r *http.Request, f Failure, err error) (int, error) {
	u.opts.ErrorPage(w, r, f)
	if errors.Is(r.Context().Err(), context.Canceled) {
		return 0, err
	}
	return f.Status(), err
}

// failBody answers a request whose body the visitor broke (see
// bodyFailure) with f's page. Its status is reported even though net/http
// has canceled r.Context() by then (reading the visitor's connection failed):
// bad framing and a stalled body are the visitor's doing, and the visitor
// may well still be there to read the page. A body cut short by the
// connection ending is reported like any visitor that went away (0).
func (u *Upstream) failBody(w http.ResponseWriter, r *http.Request, f Failure, err error) (int, error) {
	if r.ProtoMajor == 1 {
		w.Header().Set("Connection", "close") // the rest of its bytes are not a request
	}
	u.opts.ErrorPage(w, r, f)
	if f == BadBody && isIOError(err) && errors.Is(r.Context().Err(), context.Canceled) {
		return 0, err
	}
	return f.Status(), err
}
