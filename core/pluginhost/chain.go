package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sshgress/sshgress/core/usererr"
	"github.com/sshgress/sshgress/sdk"
)

// Tunnel is a tunnel being opened, as the plugins see it.
type Tunnel struct {
	// ID is unique among the edge's open tunnels.
	ID string
	// Account identifies the SSH user.
	Account string
	// Command is the endpoint type, e.g. "http".
	Command string
	// Host is the tunnel's public host name; empty for tcp.
	Host string
	// URL is the tunnel's public URL.
	URL string
	// RemotePort is the port the user asked for with ssh -R.
	RemotePort uint32
	// Values holds, per plugin name, the parsed values of that plugin's
	// flags that were set (flag name -> values in order). Only plugins
	// with a flag set appear; each joins the tunnel. Values of sensitive
	// flags travel to the plugin only, never to a log.
	Values map[string]map[string][]string
}

// maxUserText bounds a line of plugin text shown to a user.
const maxUserText = 512

// Open opens t with each plugin in t.Values, in order of plugin name, and
// returns the tunnel's middleware chain. A plugin's refusal is a usererr
// whose text is the plugin's message; any failure closes the tunnel in the
// plugins that had already opened it.
//
// notify is called, from any goroutine, with a line for the tunnel owner's
// session when a plugin of the tunnel crashes or comes back (e.g.
// "basicauth plugin restarted; protection restored"); it must not block
// long. It may be nil.
func (h *Host) Open(ctx context.Context, t Tunnel, notify func(string)) (*Chain, error) {
	if h.closed.Load() {
		return nil, errors.New("pluginhost: open tunnel: host is closed")
	}
	c := &Chain{host: h, tunnelID: t.ID}
	names := slices.Sorted(mapKeys(t.Values))
	for _, name := range names {
		p, ok := h.plugins[name]
		if !ok {
			c.Close()
			return nil, fmt.Errorf("pluginhost: open tunnel %s: plugin %q is not enabled", t.ID, name)
		}
		st := sdk.Tunnel{
			ID:         t.ID,
			Account:    t.Account,
			Command:    t.Command,
			Host:       t.Host,
			URL:        t.URL,
			RemotePort: t.RemotePort,
			Values:     t.Values[name],
		}
		ot, res, err := p.open(ctx, st, notify)
		if err != nil {
			c.Close()
			if msg, refused := sdk.AsUserError(err); refused {
				return nil, usererr.Wrap(err, userText(msg))
			}
			err = fmt.Errorf("pluginhost: plugin %q: open tunnel %s: %w", name, t.ID, err)
			if errors.Is(err, errPluginDown) {
				return nil, usererr.Wrap(err, fmt.Sprintf("the %s plugin is restarting; try again in a few seconds", name))
			}
			return nil, usererr.Wrap(err, fmt.Sprintf("the %s plugin failed to open the tunnel; try again in a moment", name))
		}
		c.opened = append(c.opened, opened{p: p, ot: ot})
		if line := userText(res.Protection); line != "" {
			c.protection = append(c.protection, line)
		}
		if res.Rules != nil && !res.Rules.Empty() {
			if t.Command != builtinCommand {
				c.Close()
				return nil, usererr.Errorf("the %s plugin sets request rules, which only %s endpoints take; leave its flags out of a %s command", name, builtinCommand, t.Command)
			}
			filters := *res.Rules
			filters.Headers = sdk.HeaderEdits{} // applied by the HTTP edge, not checked
			rr, err := compileRules(name, &filters)
			if err == nil {
				err = c.addHeaderEdits(name, res.Rules.Headers)
			}
			if usererr.Is(err) {
				c.Close() // the plugins' edits together do not fit
				return nil, err
			}
			if err != nil {
				c.Close()
				err = fmt.Errorf("pluginhost: plugin %q: open tunnel %s: nonsense static rules: %w", name, t.ID, err)
				return nil, usererr.Wrap(err, fmt.Sprintf("the %s plugin answered nonsense; tell the operator", name))
			}
			if rr != nil {
				if rr.breaker != nil {
					rr.breaker.notify = notify
				}
				c.rules = append(c.rules, rr)
				c.limited = c.limited || rr.rate != nil || rr.breaker != nil
				c.protection = append(c.protection, rr.protection()...)
			}
		}
		if p.manifest.HTTPMiddleware {
			l := &link{p: p, cache: newVerdictCache[sdk.Verdict](h.opts.CacheEntries), body: p.manifest.RequestBody}
			c.links = append(c.links, l)
			c.wantsBody = c.wantsBody || p.manifest.RequestBody
			if p.manifest.ResponseHead {
				l.reviews = newVerdictCache[sdk.ResponseEdits](h.opts.CacheEntries)
				c.reviewers = append(c.reviewers, l)
			}
		}
	}
	return c, nil
}

// userText makes plugin text safe for a user's terminal: one line, no
// control characters (no escape sequences), at most maxUserText bytes.
func userText(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > maxUserText {
		cut := maxUserText
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// Chain is one tunnel's middleware: the plugins that joined it, in order.
// It is safe for concurrent use.
type Chain struct {
	host       *Host
	tunnelID   string
	opened     []opened
	links      []*link
	reviewers  []*link         // the links with a response phase (response.go)
	rules      []*requestRules // plugins' static rules, enforced before links
	limited    bool            // some rules have traffic limits (limits.go)
	wantsBody  bool            // some link's plugin asks for request bodies
	edits      sdk.HeaderEdits // plugins' static header edits (headeredits.go)
	hostBy     string          // the plugin whose edits set Host
	protection []string
	closed     atomic.Bool
	closeOnce  sync.Once
}

type opened struct {
	p  *proc
	ot *openTunnel
}

// link is one middleware plugin in a chain, with its verdict cache and,
// for a plugin with a response phase, its cache of response edits.
type link struct {
	p       *proc
	cache   *verdictCache[sdk.Verdict]
	reviews *verdictCache[sdk.ResponseEdits] // nil without a response phase
	// body: the plugin asked for request bodies (Manifest.RequestBody);
	// its verdicts depend on the bytes, so they are never cached.
	body bool
}

// WantsBody reports whether a plugin of the chain asks for each request's
// body: the caller then buffers it (bounded) and calls CheckBody.
func (c *Chain) WantsBody() bool { return c.wantsBody }

// Protection returns the banner lines from the plugins' OpenTunnel replies,
// e.g. "basic auth (2 users)", in chain order.
func (c *Chain) Protection() []string { return slices.Clone(c.protection) }

// Empty reports whether the chain has no HTTP middleware, no static
// rules and no header edits, so the HTTP edge can drop it. A chain with
// header edits only answers Check at once.
func (c *Chain) Empty() bool { return len(c.links) == 0 && len(c.rules) == 0 && c.edits.Empty() }

// Decision is the outcome of Check.
type Decision struct {
	// Respond means answer the visitor with Status, Header and Body and do
	// not forward the request.
	Respond bool
	// Status is the response status when Respond.
	Status int
	// Header holds the response headers when Respond.
	Header http.Header
	// Body is the response body when Respond (at most 64 KiB).
	Body []byte

	// SetHeader replaces request headers upstream when continuing.
	SetHeader http.Header
	// RemoveHeader deletes request headers upstream when continuing
	// (before SetHeader is applied).
	RemoveHeader []string
	// Identity is who a middleware authenticated, if any (the last
	// middleware that named one wins).
	Identity *sdk.Identity

	// Cached means every verdict behind the decision came from the
	// edge's verdict cache: no plugin was asked.
	Cached bool
	// Refused marks a respond decision made by a plugin's static rules
	// (403, or 429/503 from a traffic limit), without asking any plugin:
	// the HTTP edge shows its own page for Status instead of Body.
	Refused bool
	// Notice is a line for the tunnel owner's session saying why: with
	// Refused, set only the first time each rule refuses; for a plugin's
	// respond verdict, the plugin's owner note (made safe for a terminal);
	// "" otherwise.
	Notice string
	// RetryAfter, with Refused and status 429 (a rate limit) or 503 (a
	// circuit breaker), is when the visitor may try again, in whole
	// seconds; it is also in Header's Retry-After.
	RetryAfter time.Duration
}

// Apply applies a continue decision's header edits to r.Header: first
// RemoveHeader, then SetHeader. It does nothing for a respond decision.
func (d *Decision) Apply(r *http.Request) {
	if d.Respond {
		return
	}
	if r.Header == nil {
		r.Header = http.Header{}
	}
	for _, name := range d.RemoveHeader {
		r.Header.Del(name)
	}
	for name, values := range d.SetHeader {
		r.Header[name] = slices.Clone(values)
	}
}

// addContinue merges one middleware's continue edits into d.
func (d *Decision) addContinue(c *sdk.Continue) {
	for _, name := range c.RemoveHeaders {
		name = http.CanonicalHeaderKey(name)
		delete(d.SetHeader, name)
		if !slices.Contains(d.RemoveHeader, name) {
			d.RemoveHeader = append(d.RemoveHeader, name)
		}
	}
	for name, values := range c.SetHeaders {
		if d.SetHeader == nil {
			d.SetHeader = http.Header{}
		}
		d.SetHeader[http.CanonicalHeaderKey(name)] = slices.Clone(values)
	}
	if c.Identity != nil {
		id := *c.Identity
		d.Identity = &id
	}
}

// Check runs the middleware in order for r's head. Static rules come
// first: a request any of them refuses gets a Refused 403 decision and no
// plugin is asked; then their rate limits (a Refused 429) and circuit
// breakers (a Refused 503), both with RetryAfter (limits.go). The first
// respond verdict wins; continue edits are applied to the head the next
// plugin sees. Each plugin call is bounded by Options.CallTimeout and by r's
// context. Verdicts with a cache hint are reused while they are valid.
//
// A non-nil error means fail closed: a plugin is down, late or answered
// nonsense, and the caller must answer 503 (with Retry-After), never
// forward the request. tlsFacts is nil for plain HTTP.
func (c *Chain) Check(r *http.Request, client netip.AddrPort, tlsFacts *sdk.TLSFacts) (Decision, error) {
	return c.CheckBody(r, client, tlsFacts, nil)
}

// CheckBody is Check for a chain that WantsBody, with the request's whole
// body, already read by the caller within its bound: the plugins that
// asked for bodies get it, the others never see it.
func (c *Chain) CheckBody(r *http.Request, client netip.AddrPort, tlsFacts *sdk.TLSFacts, body []byte) (Decision, error) {
	if len(c.links) == 0 && len(c.rules) == 0 {
		return Decision{}, nil
	}
	if c.closed.Load() {
		return Decision{}, errors.New("pluginhost: check: tunnel is closed")
	}
	for _, rr := range c.rules {
		if refused, why := rr.refuse(r.Header, client.Addr()); refused {
			return refusal(why), nil
		}
	}
	if c.limited {
		now := time.Now()
		for _, rr := range c.rules {
			if d, limited := rr.limit(r.Header, client.Addr(), now); limited {
				return d, nil
			}
		}
	}
	// The request head (a copy of every header) is built only when a plugin
	// must be asked: a cached verdict for the visitor's own headers, the
	// common case with basic auth, needs none.
	var head *sdk.Request
	d := Decision{Cached: true}
	for i, l := range c.links {
		var v sdk.Verdict
		hit := false
		if head == nil && !l.body {
			v, hit = l.cached(r.Header)
		}
		if hit {
			l.p.meters.cacheHits.Hit()
		}
		if !hit {
			d.Cached = false
			if head == nil {
				head = requestHead(c.tunnelID, r, client, tlsFacts)
			}
			ask := head
			if l.body {
				withBody := *head
				withBody.Body = body
				if withBody.Body == nil {
					withBody.Body = []byte{}
				}
				ask = &withBody
			}
			var err error
			if v, err = l.check(r.Context(), ask); err != nil {
				return Decision{}, fmt.Errorf("pluginhost: plugin %q: %w", l.p.spec.Name, err)
			}
		}
		if resp := v.Respond; resp != nil {
			return Decision{
				Respond: true,
				Status:  resp.Status,
				Header:  http.Header(resp.Header).Clone(),
				Body:    slices.Clone(resp.Body),
				Cached:  d.Cached,
				Notice:  userText(resp.OwnerNote),
			}, nil
		}
		d.addContinue(v.Continue)
		if i+1 == len(c.links) {
			break // no later plugin sees the edits
		}
		if head == nil {
			head = requestHead(c.tunnelID, r, client, tlsFacts)
		}
		for _, name := range v.Continue.RemoveHeaders {
			head.Header.Del(name)
		}
		for name, values := range v.Continue.SetHeaders {
			head.Header[http.CanonicalHeaderKey(name)] = slices.Clone(values)
		}
	}
	return d, nil
}

// requestHead is what a middleware sees of r: its head, with a private
// copy of the headers (plugins' edits apply to the copy).
func requestHead(tunnelID string, r *http.Request, client netip.AddrPort, tlsFacts *sdk.TLSFacts) *sdk.Request {
	path, query := "/", ""
	if r.URL != nil {
		path, query = r.URL.EscapedPath(), r.URL.RawQuery
	}
	head := &sdk.Request{
		TunnelID:   tunnelID,
		Method:     r.Method,
		Host:       requestHost(r.Host),
		Path:       path,
		RawQuery:   query,
		Header:     r.Header.Clone(),
		ClientAddr: client,
		TLS:        tlsFacts,
	}
	if head.Header == nil {
		head.Header = http.Header{}
	}
	head.Header.Del("Host")
	return head
}

// requestHost returns the host of a Host header without port, lowercased.
func requestHost(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.ToLower(strings.TrimSuffix(host, "."))
}

// check asks one plugin about head, through the cache.
// cached returns the verdict cached for these request headers, if any.
func (l *link) cached(h http.Header) (sdk.Verdict, bool) {
	return l.cache.get(h, l.p.gen.Load(), time.Now())
}

func (l *link) check(ctx context.Context, head *sdk.Request) (sdk.Verdict, error) {
	gen := l.p.gen.Load()
	if l.body {
		return l.p.ask(ctx, head) // the verdict depends on the bytes: never cached
	}
	if v, ok := l.cache.get(head.Header, gen, time.Now()); ok {
		l.p.meters.cacheHits.Hit()
		return v, nil
	}
	v, err := l.p.ask(ctx, head)
	if err != nil {
		return sdk.Verdict{}, err
	}
	if v.Cache != nil && v.Cache.TTL > 0 {
		l.cache.put(v.Cache, head.Header, gen, v, time.Now())
	}
	return v, nil
}

// Close closes the tunnel in every plugin that opened it (each call bounded
// by Options.SetupTimeout). It is idempotent; Check fails afterwards.
func (c *Chain) Close() {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		for i := len(c.opened) - 1; i >= 0; i-- {
			o := c.opened[i]
			o.p.close(o.ot)
		}
	})
}

// ask sends head to the plugin's Check, bounded by the call timeout, and
// returns a valid verdict or an error (fail closed): plugin down, no
// answer in time, or a verdict that is neither continue nor a sane respond.
func (p *proc) ask(ctx context.Context, head *sdk.Request) (sdk.Verdict, error) {
	inst := p.cur.Load()
	if inst == nil {
		return sdk.Verdict{}, errPluginDown
	}
	timeout := p.host.opts.CallTimeout
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	p.host.checkCalls.Add(1)
	start := time.Now()
	v, err := inst.rpc.Check(cctx, head)
	if err == nil {
		if err := v.Validate(); err != nil {
			p.meters.check.Done(start, err)
			return sdk.Verdict{}, fmt.Errorf("check: nonsense verdict: %w", err)
		}
	}
	p.meters.check.Done(start, err)
	if err != nil {
		// The plugin's own deadline (gRPC sends it ahead of ours) may end
		// the call first: a DeadlineExceeded status is the same timeout.
		if cctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded {
			return sdk.Verdict{}, fmt.Errorf("check: no answer within %v: %w", timeout, err)
		}
		return sdk.Verdict{}, err
	}
	return v, nil
}
