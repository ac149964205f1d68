package httpedge

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sshgress/sshgress/core/accesslog"
	"github.com/sshgress/sshgress/core/account"
	"github.com/sshgress/sshgress/core/connlisten"
	"github.com/sshgress/sshgress/core/httpedge/forward"
	"github.com/sshgress/sshgress/core/httpedge/h1"
	"github.com/sshgress/sshgress/core/inspect"
	"github.com/sshgress/sshgress/core/pluginhost"
	"github.com/sshgress/sshgress/core/route"
	"github.com/sshgress/sshgress/core/tunnel"
	"github.com/sshgress/sshgress/core/usererr"
	"github.com/sshgress/sshgress/sdk"
)

// Defaults for Options' zero fields; core/config's defaults use them too.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultMaxHeaderBytes    = 64 << 10
	DefaultIdleTimeout       = 120 * time.Second
	DefaultBodyIdleTimeout   = 60 * time.Second
	// DefaultMiddlewareBodyLimit is Options.MiddlewareBody's default.
	DefaultMiddlewareBodyLimit = 1 << 20
	// MaxMiddlewareBodyLimit is the largest body a plugin can be handed:
	// under gRPC's default 4 MiB message limit, with room for the head.
	MaxMiddlewareBodyLimit = 3 << 20
)

// Options configures an Edge. Zero values take the documented defaults.
type Options struct {
	// BaseDomain is the normalised base domain; random names go under it.
	BaseDomain string
	// Accounts holds name reservations; may be empty.
	Accounts *account.Directory
	// NameKey is the edge's secret for the stable names of `ssh -N`
	// forwards without a name (route.LoadNameKey); nil gives them random
	// names.
	NameKey []byte
	// PublicPort is the port shown in http URLs (80 is omitted).
	PublicPort int
	// HTTPSPort is the port shown in https URLs (443 is omitted); 0 means
	// the edge has no TLS port, so every endpoint is http. With it, -R 443
	// and -R 0 give https endpoints and -R 80 an http one.
	HTTPSPort int
	// ACMEChallenge, when set, answers plain-HTTP requests for
	// /.well-known/acme-challenge/ before tunnel routing (ACME http-01).
	ACMEChallenge http.Handler
	// SystemHosts are names the edge itself serves (the OAuth auth host):
	// no tunnel may claim them.
	SystemHosts []string
	// HostHandlers serve system hosts the edge answers itself (the
	// dashboard), by normalised host; each must also be in SystemHosts.
	HostHandlers map[string]http.Handler
	// Names is the edge's one name registry, shared with the tls and tcp
	// endpoint types, which decides conflicts between kinds (a tls tunnel
	// holding a name an http tunnel asks for); a private route.Memory when
	// nil.
	Names route.Registry
	// Plugins runs the middleware chains; nil when no plugin is enabled.
	Plugins *pluginhost.Host
	// Upstream configures each tunnel's forwarding engine and connection
	// pool. Its ErrorPage defaults to WriteFailurePage, the edge's status
	// pages.
	Upstream forward.Options
	// ReadHeaderTimeout bounds reading a visitor's request head. Default
	// DefaultReadHeaderTimeout.
	ReadHeaderTimeout time.Duration
	// MaxHeaderBytes caps a visitor's request head. Default
	// DefaultMaxHeaderBytes.
	MaxHeaderBytes int
	// IdleTimeout closes idle visitor keep-alive connections. Default
	// DefaultIdleTimeout.
	IdleTimeout time.Duration
	// BodyIdleTimeout fails a request whose body stops arriving for this
	// long (slow-body attacks). Default DefaultBodyIdleTimeout.
	BodyIdleTimeout time.Duration
	// MiddlewareBody bounds the request body buffered for a plugin that
	// asks to see it (sdk.Manifest.RequestBody); beyond it the visitor
	// gets 413. Default DefaultMiddlewareBodyLimit, at most
	// MaxMiddlewareBodyLimit.
	MiddlewareBody int64
	// Inspector keeps the exchanges of tunnels opened with --inspect (the
	// default) for their owners; nil turns inspection off on this edge.
	Inspector *inspect.Store
	// Logger receives operator logs.
	Logger *slog.Logger
	// Access is the access log (access.go); nil when it is off.
	Access *accesslog.Log
}

// Edge is the HTTP side of the edge: the listener visitors reach, the
// routing from hostname to tunnel (its http claims in the name registry),
// and the http endpoint type.
type Edge struct {
	opts   Options
	names  route.Registry
	routes atomic.Int64 // names this edge holds in names
	namer  *route.Namer
	srv    *http.Server
	log    *slog.Logger
	// loopID marks the requests this edge forwards (in CDN-Loop, RFC
	// 8586), so one that comes back is recognised; random per edge, so
	// one sshgress edge in front of another is not a loop.
	loopID string
	// loopHeader is []string{loopID}, shared by every forwarded request.
	loopHeader []string
	// poolTurn rotates where picking a pool member starts (pool.go).
	poolTurn atomic.Uint32

	// h1 serves HTTP/1 visitors (package h1); srv serves the HTTP/2 ones,
	// handed to it through h2conns (serve.go).
	h1      *h1.Server
	h2conns *connlisten.Listener
	h2once  sync.Once
	lnMu    sync.Mutex
	lns     []net.Listener
	closing bool
}

var _ tunnel.EndpointType = (*Edge)(nil)

// New returns an Edge; call Serve to accept visitors.
func New(opts Options) *Edge {
	if opts.ReadHeaderTimeout <= 0 {
		opts.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if opts.MaxHeaderBytes <= 0 {
		opts.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.BodyIdleTimeout <= 0 {
		opts.BodyIdleTimeout = DefaultBodyIdleTimeout
	}
	if opts.MiddlewareBody <= 0 {
		opts.MiddlewareBody = DefaultMiddlewareBodyLimit
	}
	opts.MiddlewareBody = min(opts.MiddlewareBody, MaxMiddlewareBodyLimit)
	if opts.PublicPort <= 0 {
		opts.PublicPort = 80
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Names == nil {
		opts.Names = route.NewMemory()
	}
	if opts.Upstream.ErrorPage == nil {
		opts.Upstream.ErrorPage = WriteFailurePage
	}
	e := &Edge{
		opts:   opts,
		names:  opts.Names,
		namer:  &route.Namer{Base: opts.BaseDomain, Accounts: opts.Accounts, StableKey: opts.NameKey},
		log:    opts.Logger,
		loopID: newLoopID(),
	}
	e.loopHeader = []string{e.loopID}
	e.h1 = &h1.Server{
		Handler:           e,
		ReadHeaderTimeout: opts.ReadHeaderTimeout,
		IdleTimeout:       opts.IdleTimeout,
		MaxHeaderBytes:    opts.MaxHeaderBytes,
		Refuse:            writeRefusal,
		Logger:            opts.Logger,
	}
	e.h2conns = connlisten.New()
	e.srv = &http.Server{
		Handler:           e,
		ReadHeaderTimeout: opts.ReadHeaderTimeout,
		MaxHeaderBytes:    opts.MaxHeaderBytes,
		IdleTimeout:       opts.IdleTimeout,
		// HTTP/2 visitors: bounded streams per connection and frame sizes,
		// and the same header cap as HTTP/1 (net/http also limits resets
		// and CONTINUATION floods itself).
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams:          100,
			MaxReadFrameSize:              1 << 20,
			MaxReceiveBufferPerConnection: 4 << 20,
			MaxReceiveBufferPerStream:     1 << 20,
		},
		ErrorLog: slog.NewLogLogger(opts.Logger.Handler(), slog.LevelDebug),
	}
	return e
}

// Serves reports whether the normalised host is bound to an http endpoint
// right now, or is one the edge serves itself (the OAuth auth host): the
// TLS port terminates only such names.
func (e *Edge) Serves(host string) bool {
	_, ok := e.lookup(host)
	return ok || e.isSystemHost(host)
}

// IsSystemHost reports whether the normalised host is one the edge serves
// itself (Options.SystemHosts), which no tunnel may claim.
func (e *Edge) IsSystemHost(host string) bool { return e.isSystemHost(host) }

// lookup returns the http endpoint bound to the normalised host: for a
// pooled name, the member to serve the next request (pick).
func (e *Edge) lookup(host string) (*endpoint, bool) {
	ep := e.pick(e.names.Members(host, route.KindHTTP), nil)
	return ep, ep != nil
}

// Routes returns how many hostnames are bound (for tests and metrics);
// each member of a pooled hostname counts.
func (e *Edge) Routes() int { return int(e.routes.Load()) }

// ServeHTTP routes one visitor request to its tunnel.
func (e *Edge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer guardBody(w, r, e.opts.BodyIdleTimeout)()
	if r.TLS == nil && e.opts.ACMEChallenge != nil && strings.HasPrefix(r.URL.Path, acmeChallengePath) {
		e.opts.ACMEChallenge.ServeHTTP(w, r)
		return
	}
	host, err := route.Normalize(r.Host)
	if err != nil {
		WritePage(w, r, PageBadHost, r.Host)
		return
	}
	var tlsFacts *sdk.TLSFacts
	proto := "http"
	if r.TLS != nil {
		// A TLS connection serves the name it was made for only (h2
		// coalescing or a forged Host must not reach another tunnel).
		if sni, err := route.Normalize(r.TLS.ServerName); err != nil || sni != host {
			WritePage(w, r, PageMisdirected, host)
			return
		}
		tlsFacts = &sdk.TLSFacts{ServerName: host, Version: r.TLS.Version}
		proto = "https"
	}
	ep, ok := e.lookup(host)
	if !ok {
		e.serveNoTunnel(w, r, host, tlsFacts)
		return
	}
	if ep.https && r.TLS == nil {
		http.Redirect(w, r, ep.url+r.URL.RequestURI(), http.StatusPermanentRedirect)
		return
	}
	ep.stats.Request()
	visitor, _ := netip.ParseAddrPort(r.RemoteAddr)
	start := time.Now()
	status := 0
	var upstream time.Duration // the user's service's part, once forwarded
	verdict := accesslog.VerdictEdge
	w, access := e.startAccess(w, r, ep) // nil when the access log is off
	defer func() {
		took := time.Since(start)
		ep.stats.Response(status, took, upstream)
		ep.con.Request(r.Method, r.URL.Path, status, took, visitor.Addr())
		access.finish(accessFacts{status: status, total: took, upstream: upstream, visitor: visitor.Addr(), verdict: verdict})
		if ep.verbose {
			ep.printHeaders(r.Header)
		}
	}()
	// The inspector's capture (inspect.go); nil unless --inspect.
	capture, w := ep.insp.Begin(w, r, visitor.Addr(), false)
	defer func() { capture.End(status, upstream) }()
	if hasLoopID(r.Header, e.loopID) {
		status = PageLoop.Status
		ep.loopDetected()
		WritePage(w, r, PageLoop, host)
		return
	}
	if !ep.ready.Load() {
		status = http.StatusServiceUnavailable
		WritePage(w, r, PageUnavailable, host)
		return
	}
	StripVisitorHeaders(r.Header)
	verdict = accesslog.VerdictNone
	if ep.chain != nil {
		var body []byte // read, within its bound, only for a plugin that asks
		if ep.chain.WantsBody() {
			var page *Page
			if body, page = e.readBody(r); page != nil {
				status, verdict = page.Status, accesslog.VerdictEdge
				WritePage(w, r, *page, host)
				return
			}
		}
		d, err := ep.chain.CheckBody(r, visitor, tlsFacts, body)
		if err != nil {
			e.log.Warn("middleware failed; request refused", "host", host, "err", err)
			capture.Verdict("failed, so the request was refused")
			status, verdict = http.StatusServiceUnavailable, accesslog.VerdictFailed
			WritePage(w, r, PageUnavailable, host)
			return
		}
		capture.Verdict(verdictText(d))
		if d.Respond {
			status = d.Status
			if access != nil {
				verdict = accesslog.RespondVerdict(d.Status, d.Cached)
				if d.Refused {
					verdict = "refused by static rules"
				}
			}
			if d.Refused {
				ep.refused(w, r, d, host)
				return
			}
			if d.Notice != "" {
				ep.con.Line(d.Notice)
			}
			writeVerdict(w, d)
			return
		}
		verdict = accesslog.VerdictContinue
		if d.Cached {
			verdict = accesslog.VerdictCached
		}
		d.Apply(r)
		r = ep.withIdentity(r, d.Identity) // for the response phase (review.go)
		// The tunnel's static edits, after every verdict: no middleware
		// sees them, and the edge's own headers below override nothing.
		ep.reqEdit.Apply(r.Header)
	}
	SetForwarded(r.Header, visitor, proto, r.Host)
	addLoopID(r.Header, e.loopHeader)
	upStart := time.Now()
	status, err = ep.forward(w, r, visitor)
	upstream = time.Since(upStart)
	ep.chain.Observe(status) // feeds --circuit-breaker; nil-safe
	if err != nil {
		e.log.Debug("upstream request failed", "host", host, "err", err)
		ep.hintUpstream(err)
	}
}

// writeVerdict sends a middleware's own response (401, 302, ...).
func writeVerdict(w http.ResponseWriter, d pluginhost.Decision) {
	h := w.Header()
	for k, vs := range d.Header {
		h[k] = vs
	}
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-store")
	}
	h.Set("Content-Length", strconv.Itoa(len(d.Body)))
	w.WriteHeader(d.Status)
	w.Write(d.Body)
}

// Bind publishes an http endpoint for one forward (tunnel.EndpointType).
func (e *Edge) Bind(ctx context.Context, req *tunnel.BindRequest) (tunnel.Endpoint, error) {
	f := req.Forward
	switch req.RemotePort {
	case 80, 443, 0:
	default:
		return nil, usererr.New(sdk.RemotePortHint("http", "80, 443 or 0", req.RemoteName, req.RemotePort, 80))
	}
	if req.Pool && route.AsksRandom(req.RemoteName) && req.Owner.Stable == 0 {
		return nil, usererr.New(poolNeedsName)
	}
	up, err := parseUpstream(req.CoreValues)
	if err != nil {
		return nil, err
	}
	ep := &endpoint{edge: e, id: req.TunnelID, account: req.Owner.Account, con: req.Console, fwd: req.Forward, stats: req.Forward.Stats(), port: uint32(e.opts.PublicPort), pooled: req.Pool}
	if ep.pooled {
		ep.notes.Line = req.Console.Line
	}
	if e.opts.HTTPSPort != 0 && req.RemotePort != 80 {
		ep.https = true
		ep.port = uint32(e.opts.HTTPSPort)
	}
	f.SetPublicPort(ep.port)
	ep.upstream = forward.NewUpstream(f.Dial, e.opts.Upstream)
	if err := e.claim(ctx, ep, route.ClaimantOf(req.Owner), req.RemoteName, req.PluginValues); err != nil {
		ep.upstream.Close()
		return nil, err
	}
	switch {
	case ep.https:
		ep.url = "https://" + ep.host
		if e.opts.HTTPSPort != 443 {
			ep.url += ":" + strconv.Itoa(e.opts.HTTPSPort)
		}
	default:
		ep.url = "http://" + ep.host
		if e.opts.PublicPort != 80 {
			ep.url += ":" + strconv.Itoa(e.opts.PublicPort)
		}
	}
	if len(req.PluginValues) > 0 {
		if e.opts.Plugins == nil {
			ep.Close()
			return nil, errors.New("httpedge: plugin flags given but no plugin host")
		}
		chain, err := e.opts.Plugins.Open(ctx, pluginhost.Tunnel{
			ID:         req.TunnelID,
			Account:    req.Owner.Account,
			Command:    req.Command,
			Host:       ep.host,
			URL:        ep.url,
			RemotePort: req.RemotePort,
			Values:     req.PluginValues,
		}, req.Console.Line)
		if err != nil {
			ep.Close()
			return nil, err
		}
		if !chain.Empty() {
			ep.chain = chain
			ep.editHeaders(chain.HeaderEdits())
			if chain.ReviewsResponses() {
				ep.upstream.SetResponseReview(ep.reviewResponse)
			}
		} else {
			chain.Close()
		}
	}
	if e.opts.Inspector != nil && !req.NoSession && switchOn(req.CoreValues, FlagInspect, true) {
		ep.insp = e.opts.Inspector.Open(ep.url, ep.replay)
	}
	ep.verbose = switchOn(req.CoreValues, FlagVerbose, false)
	ep.upstream.SetCompression(switchOn(req.CoreValues, FlagCompression, false))
	ep.speak(up)
	ep.ready.Store(true)
	return ep, nil
}

// claim resolves the public name and binds it to ep (route.Bind). A name
// the edge serves itself is not available; one that a tls tunnel holds is
// refused by the registry.
func (e *Edge) claim(ctx context.Context, ep *endpoint, who route.Claimant, remote string, values map[string]map[string][]string) error {
	want := route.Claim{Kind: route.KindHTTP, Tunnel: ep.id, Member: ep}
	if ep.pooled {
		want.Pool, want.PoolTerms = true, route.PoolTerms(values, route.KindHTTP.String(), strconv.FormatBool(ep.https))
	}
	name, prev, err := route.Bind(ctx, e.names, e.namer, who, remote, want, func(name string) error {
		if e.isSystemHost(name) {
			return usererr.Errorf("%s is used by the edge itself; pick another name", name)
		}
		return nil
	})
	if err != nil {
		return err
	}
	ep.host = name
	if ep.pooled {
		ep.poolSize = e.tellPool(name, ep, true)
	}
	e.routes.Add(1)
	for _, p := range prev {
		// A takeover replaces the name in place: it stays counted.
		e.routes.Add(-1)
		if old, ok := p.Member.(*endpoint); ok {
			old.takenOver()
		}
	}
	return nil
}

// acmeChallengePath is where ACME http-01 challenges are fetched.
const acmeChallengePath = "/.well-known/acme-challenge/"

// endpoint is one published http forward.
type endpoint struct {
	edge     *Edge
	id       string
	account  string // the owner's account, for the access log
	host     string
	url      string
	port     uint32
	https    bool // served over TLS; plain HTTP is redirected
	upstream *forward.Upstream
	chain    *pluginhost.Chain
	reqEdit  *forward.HeaderEdit // the chain's static request edits; nil for none
	con      tunnel.Console
	fwd      tunnel.Dialer // told when a newer connection takes the name
	stats    *tunnel.Stats // the tunnel's counters (requests here, bytes on the SSH side)
	ready    atomic.Bool
	once     sync.Once
	looped   atomic.Bool  // the loop sentence was printed
	pooled   bool         // a member of a pool (--pooling-enabled)
	poolSize int          // members of the pool at bind
	inflight atomic.Int64 // requests being forwarded by a pool member (pool.go)
	notes    tunnel.PoolNotices
	insp     *inspect.Tunnel // nil without --inspect
	verbose  bool            // --verbose: print request headers
	// upHinted is when the owner was last told why talking to their
	// service failed (UnixNano; upstream.go), so a failing service costs
	// one line per upstreamHintEvery, not one per request.
	upHinted atomic.Int64
}

func (ep *endpoint) URL() string  { return ep.url }
func (ep *endpoint) Port() uint32 { return ep.port }

func (ep *endpoint) Protection() []string {
	if ep.chain == nil {
		return nil
	}
	return ep.chain.Protection()
}

// editHeaders sets up the plugins' static header edits of ep, before ep
// is ready: request edits applied by ServeHTTP, response edits and the
// Host by the forwarding engine.
func (ep *endpoint) editHeaders(e sdk.HeaderEdits) {
	ep.reqEdit = forward.NewHeaderEdit(e.RequestRemove, e.RequestAdd)
	ep.upstream.SetResponseEdit(forward.NewHeaderEdit(e.ResponseRemove, e.ResponseAdd))
	ep.upstream.SetRequestHost(e.Host)
}

// Close removes the route at once, then closes pooled upstream connections
// and the plugin chain.
func (ep *endpoint) Close() {
	ep.once.Do(func() {
		if ep.host != "" && ep.edge.names.Release(ep.host, ep) {
			ep.edge.routes.Add(-1)
			if ep.pooled {
				ep.edge.tellPool(ep.host, ep, false)
			}
		}
		ep.upstream.Close()
		if ep.chain != nil {
			ep.chain.Close()
		}
		ep.insp.Close()
	})
}

// takenOver tells the connection of an endpoint whose name a newer
// connection of the same owner claimed (it tells the user and closes when
// nothing is left), and closes the endpoint off the newer connection's
// path: closing pooled channels writes to a client that may be frozen, a
// write that ends at the latest when that connection closes.
func (ep *endpoint) takenOver() {
	ep.fwd.TakenOver(ep.host)
	go ep.Close()
}

// loopDetected tells the owner, once per endpoint, that requests to it come
// back to the edge: the -R target is the edge's own port.
func (ep *endpoint) loopDetected() {
	if ep.looped.Swap(true) {
		return
	}
	ep.con.Line("Requests to " + ep.url + " come back to this edge: your ssh -R points at the edge's own port, not at your service. Such requests get 508 Loop Detected. Point -R at your local service instead (e.g. -R 80:localhost:3000).")
}
