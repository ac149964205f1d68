package httpedge

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/sshgress/sshgress/core/tunnel"
)

// UpstreamOptions tunes an Upstream's connection pool. The zero value
// takes the documented defaults.
type UpstreamOptions struct {
	// MaxIdle is how many idle keep-alive connections are kept for reuse.
	// Default DefaultUpstreamMaxIdle. Connections in use are not limited here.
	MaxIdle int
	// IdleTimeout closes connections idle for longer. Default
	// DefaultUpstreamIdleTimeout. It is
	// checked when connections are taken and returned and by one timer per
	// Upstream (no goroutine per connection).
	IdleTimeout time.Duration
	// DialTimeout bounds opening a new connection; past it the visitor gets
	// a 502 page. Default tunnel.DefaultDialTimeout.
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
}

// Defaults for UpstreamOptions' zero fields that core/config also uses
// (DialTimeout's is tunnel.DefaultDialTimeout).
const (
	DefaultUpstreamMaxIdle     = 64
	DefaultUpstreamIdleTimeout = 60 * time.Second
)

const (
	fwdDefaultKeepIdle  = 8
	fwdDefaultBurstIdle = 5 * time.Second

	// fwdConnBufSize is the size of each pooled connection's read and
	// write buffers.
	fwdConnBufSize = 4 << 10
	// fwdMaxResponseHead bounds the bytes of one response head (each 1xx
	// head counts separately) an upstream may send.
	fwdMaxResponseHead = 1 << 20
	// fwdMax1xx bounds the informational responses before the final one.
	fwdMax1xx = 10
	// fwdBodyWriteWait is how long a finished response waits for the
	// request body to finish writing before the connection is given up.
	// http.Transport allows 50 ms; on a loaded 2-core machine the sender
	// goroutine can be descheduled that long after the upstream already
	// read the last byte, and giving up then makes net/http close a
	// healthy visitor connection (seen as broken pipes on the visitor's
	// next request). The wait only happens when the upstream answered
	// before the body was sent, so a longer one costs nothing otherwise.
	fwdBodyWriteWait = time.Second
)

var (
	errFwdClosed       = errors.New("httpedge: upstream closed")
	errFwdConnect      = errors.New("httpedge: CONNECT is not forwarded")
	errFwdHeadTooLarge = errors.New("httpedge: upstream response head too large")
	errFwdBodyAborted  = errors.New("httpedge: request body aborted after the response ended")
)

// Upstream forwards requests to one tunnel's local service over pooled
// keep-alive connections. It is safe for concurrent use.
type Upstream struct {
	dial  tunnel.DialFunc
	opts  UpstreamOptions
	dials atomic.Uint64

	mu         sync.Mutex
	idle       []*fwdConn // LIFO: the most recently used connection is last
	closed     bool
	sweep      *time.Timer // closes expired idle connections; nil until first needed
	sweepArmed bool
	sweepAt    time.Time // when the armed sweep fires
}

// fwdConn is one pooled upstream connection with its buffers.
type fwdConn struct {
	c         tunnel.Conn
	lim       fwdLimitReader // between c and br: bounds response heads
	br        *bufio.Reader
	bw        *bufio.Writer
	idleSince time.Time
	reused    bool   // taken from the idle pool rather than freshly dialed
	abort     func() // closes c; registered with context.AfterFunc per request
	// bodyRead is set once the current request's body was read to its
	// end, so aborting its writer need not interrupt the visitor's reads.
	bodyRead atomic.Bool
}

// fwdLimitReader reads from r and fails once n bytes were read.
type fwdLimitReader struct {
	r io.Reader
	n int64
}

func (l *fwdLimitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errFwdHeadTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

func fwdNewConn(c tunnel.Conn) *fwdConn {
	pc := &fwdConn{c: c}
	pc.lim = fwdLimitReader{r: c, n: math.MaxInt64}
	pc.br = bufio.NewReaderSize(&pc.lim, fwdConnBufSize)
	pc.bw = bufio.NewWriterSize(c, fwdConnBufSize)
	pc.abort = func() { _ = c.Close() }
	return pc
}

// NewUpstream returns an Upstream that opens connections with dial, with
// the visitor's address as the originator in the SSH channel. dial should
// return when its ctx is done; if it does not, Forward gives up on it at
// the dial timeout anyway and closes the connection once it arrives.
func NewUpstream(dial tunnel.DialFunc, opts UpstreamOptions) *Upstream {
	if opts.MaxIdle <= 0 {
		opts.MaxIdle = DefaultUpstreamMaxIdle
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultUpstreamIdleTimeout
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = tunnel.DefaultDialTimeout
	}
	if opts.KeepIdle <= 0 {
		opts.KeepIdle = fwdDefaultKeepIdle
	}
	if opts.BurstIdleTimeout <= 0 {
		opts.BurstIdleTimeout = fwdDefaultBurstIdle
	}
	opts.BurstIdleTimeout = min(opts.BurstIdleTimeout, opts.IdleTimeout)
	return &Upstream{dial: dial, opts: opts}
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
// fast with a 502 page. Requests in flight continue until their
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
	u.mu.Unlock()
	for _, pc := range idle {
		_ = pc.c.Close()
	}
}

// Forward sends r to the upstream and streams the response to w. It
// returns the status code sent to the visitor (0 if none) and an error
// describing an upstream or visitor failure (nil on success).
//
// The caller has already stripped the visitor's hop-by-hop and spoofable
// headers and set X-Forwarded-* (StripVisitorHeaders, SetForwarded).
// Forward does not modify r.Header; it leaves out hop-by-hop headers (RFC
// 9110 7.6.1 and those named in Connection) as it writes the request,
// except that an upgrade the visitor asked for (Connection: upgrade +
// Upgrade) is passed on, and Expect is dropped (net/http answers
// 100-continue itself). Request trailers go on only where
// fwdForwardTrailer allows. The
// request goes out as HTTP/1.1 with a bare request target; CONNECT is
// answered with 405 and never forwarded.
//
// Failures before the final response head (dial failure or timeout,
// upstream closed, invalid response) make Forward write a 502 page itself
// and return 502; a bodyless request that fails that way on a reused
// connection is first retried once on a new one. If the visitor has gone
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
	if r.Method == http.MethodConnect {
		WritePage(w, r, pageMethodNotAllowed, r.Host)
		return pageMethodNotAllowed.Status, errFwdConnect
	}
	hasBody := r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
	upType := ""
	if !hasBody {
		upType = fwdUpgradeType(r.Header)
	}
	for attempt := 0; ; attempt++ {
		pc, err := u.fwdGet(r.Context(), visitor, attempt > 0)
		if err != nil {
			page := PageUpstreamDown
			if errors.Is(err, tunnel.ErrChannelLimit) {
				page = PageUnavailable
			}
			return fwdFailEarly(w, r, page, err)
		}
		status, retry, err := u.fwdExchange(w, r, pc, hasBody, upType, attempt == 0)
		if !retry {
			return status, err
		}
	}
}

// fwdFailEarly answers a failure before any final response byte with
// page. If r.Context() was canceled the visitor has almost surely gone: the
// page is still written (so a visitor that is in fact there never gets an
// empty 200 from net/http), but the status reported is 0.
func fwdFailEarly(w http.ResponseWriter, r *http.Request, page Page, err error) (int, error) {
	WritePage(w, r, page, r.Host)
	if errors.Is(r.Context().Err(), context.Canceled) {
		return 0, err
	}
	return page.Status, err
}

// fwdFailBody answers a request whose body the visitor broke (see
// fwdBodyPage) with page. Its status is reported even though net/http has
// canceled r.Context() by then (reading the visitor's connection failed):
// bad framing and a stalled body are the visitor's doing, and the visitor
// may well still be there to read the page. A body cut short by the
// connection ending is reported like any visitor that went away (0).
func fwdFailBody(w http.ResponseWriter, r *http.Request, page Page, err error) (int, error) {
	if r.ProtoMajor == 1 {
		w.Header().Set("Connection", "close") // the rest of its bytes are not a request
	}
	WritePage(w, r, page, r.Host)
	if page.Status == PageBadBody.Status && fwdIsIOError(err) && errors.Is(r.Context().Err(), context.Canceled) {
		return 0, err
	}
	return page.Status, err
}

// fwdExchange runs one request on pc. retry reports a failure on a reused
// connection before any response byte that may be retried on a new one
// (only when canRetry; nothing was written to w then).
func (u *Upstream) fwdExchange(w http.ResponseWriter, r *http.Request, pc *fwdConn, hasBody bool, upType string, canRetry bool) (status int, retry bool, err error) {
	ctx := r.Context()
	stop := context.AfterFunc(ctx, pc.abort)
	rc := http.NewResponseController(w)
	canRetry = canRetry && pc.reused && !hasBody

	chunked := hasBody && (r.ContentLength < 0 || len(r.Trailer) > 0)
	fwdWriteHead(pc.bw, r, hasBody, chunked, upType)
	var bodyDone chan error
	if hasBody {
		// The body is sent while the response is read (an upstream may
		// answer early). That needs full duplex: without it net/http's
		// HTTP/1 server would consume the request body itself once the
		// response starts, racing with fwdSendBody. A ResponseWriter that
		// cannot enable it gets the body sent before the response is read.
		bodyDone = make(chan error, 1)
		pc.bodyRead.Store(false)
		if err := rc.EnableFullDuplex(); err != nil && r.ProtoMajor == 1 {
			fwdSendBody(pc, r, chunked, bodyDone)
		} else {
			go fwdSendBody(pc, r, chunked, bodyDone)
		}
	} else if err := pc.bw.Flush(); err != nil {
		stop()
		_ = pc.c.Close()
		if canRetry && ctx.Err() == nil {
			u.fwdDropStale(pc.idleSince)
			return 0, true, nil
		}
		status, err := fwdFailEarly(w, r, PageUpstreamDown, fmt.Errorf("httpedge: write request: %w", err))
		return status, false, err
	}
	pc.lim.n = fwdMaxResponseHead
	if _, err := pc.br.Peek(1); err != nil {
		berr := fwdEndBody(pc, rc, bodyDone, 0)
		stop()
		_ = pc.c.Close()
		if page, ok := fwdBodyPage(berr); ok {
			// The visitor's body broke the request: the body sender closed
			// the upstream connection, which is why nothing came back.
			status, err := fwdFailBody(w, r, page, berr)
			return status, false, err
		}
		if canRetry && ctx.Err() == nil {
			u.fwdDropStale(pc.idleSince)
			return 0, true, nil
		}
		status, err := fwdFailEarly(w, r, PageUpstreamDown, fmt.Errorf("httpedge: read response: %w", err))
		return status, false, err
	}
	var resp *http.Response
	for n1xx := 0; ; n1xx++ {
		resp, err = http.ReadResponse(pc.br, r)
		if err == nil && (resp.StatusCode < 100 || resp.StatusCode > 999) {
			err = fmt.Errorf("invalid status code %d", resp.StatusCode)
		}
		if err == nil && n1xx >= fwdMax1xx && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			err = errors.New("too many 1xx informational responses")
		}
		if err != nil {
			berr := fwdEndBody(pc, rc, bodyDone, 0)
			stop()
			_ = pc.c.Close()
			if p, ok := fwdBodyPage(berr); ok && fwdIsIOError(err) {
				status, err := fwdFailBody(w, r, p, berr)
				return status, false, err
			}
			page := PageBadUpstream
			if fwdIsIOError(err) {
				page = PageUpstreamDown
			}
			status, err := fwdFailEarly(w, r, page, fmt.Errorf("httpedge: read response: %w", err))
			return status, false, err
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		if resp.StatusCode != http.StatusContinue && r.ProtoAtLeast(1, 1) {
			// Forward 102, 103 and friends (never to HTTP/1.0 visitors);
			// 100 Continue is between the edge and the upstream (net/http
			// answers the visitor's). The 1xx header keys are removed
			// again afterwards, including values the caller had set.
			h := w.Header()
			fwdCopyResponseHeader(h, resp.Header)
			w.WriteHeader(resp.StatusCode)
			conn := resp.Header["Connection"]
			for k := range resp.Header {
				if !fwdSkipHeader(conn, k) {
					delete(h, k)
				}
			}
		}
		pc.lim.n = fwdMaxResponseHead
	}
	pc.lim.n = math.MaxInt64

	if resp.StatusCode == http.StatusSwitchingProtocols && bodyDone != nil {
		// A request with a body never asks to switch. Refuse at once,
		// then stop the body sender: nothing may read r.Body once Forward
		// has returned, and the rest of the body is never read.
		stop()
		_ = pc.c.Close()
		w.Header().Set("Connection", "close")
		status, err := fwdFailEarly(w, r, PageBadUpstream, errors.New("httpedge: upstream switched protocols on a request with a body"))
		fwdEndBody(pc, rc, bodyDone, 0)
		return status, false, err
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		status, err := fwdSwitch(w, r, pc, resp, upType, stop)
		return status, false, err
	}
	status, err = u.fwdRelay(w, r, pc, resp, rc, stop, bodyDone)
	return status, false, err
}

// fwdRelay streams the final response resp to the visitor and pools or
// closes pc.
func (u *Upstream) fwdRelay(w http.ResponseWriter, r *http.Request, pc *fwdConn, resp *http.Response, rc *http.ResponseController, stop func() bool, bodyDone chan error) (int, error) {
	h := w.Header()
	fwdCopyResponseHeader(h, resp.Header)
	announced := len(resp.Trailer)
	if announced > 0 {
		keys := make([]string, 0, announced)
		for k := range resp.Trailer {
			keys = append(keys, k)
		}
		h.Add("Trailer", strings.Join(keys, ", "))
	}
	status := resp.StatusCode
	if bodyDone != nil && len(bodyDone) == 0 && !pc.bodyRead.Load() && r.ProtoMajor == 1 {
		// The upstream answered before the visitor's body was all read.
		// If it is not read soon, fwdEndBody stops reading it, and the
		// visitor's connection cannot serve another request: say so now,
		// rather than let the client reuse a connection we then close.
		h.Set("Connection", "close")
	}
	w.WriteHeader(status)
	if announced > 0 {
		// Make net/http send the response chunked so trailers can follow.
		_ = rc.Flush()
	}

	if resp.Body != http.NoBody {
		bp := tunnel.Buffer()
		buf := *bp
		for {
			n, rerr := resp.Body.Read(buf)
			if n > 0 {
				if _, werr := w.Write(buf[:n]); werr != nil {
					tunnel.PutBuffer(bp)
					fwdEndBody(pc, rc, bodyDone, 0)
					stop()
					_ = pc.c.Close()
					return status, fmt.Errorf("httpedge: write response: %w", werr)
				}
				// Flush when no more bytes are waiting, so streamed
				// responses (SSE, long poll) reach the visitor at once
				// without a flush per chunk while bytes pour in; the
				// handler's return flushes the end.
				if rerr == nil && pc.br.Buffered() == 0 {
					_ = rc.Flush()
				}
			}
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
				tunnel.PutBuffer(bp)
				fwdEndBody(pc, rc, bodyDone, 0)
				stop()
				_ = pc.c.Close()
				if errors.Is(r.Context().Err(), context.Canceled) {
					return status, fmt.Errorf("httpedge: visitor went away: %w", context.Cause(r.Context()))
				}
				panic(http.ErrAbortHandler)
			}
		}
		tunnel.PutBuffer(bp)
	}

	if len(resp.Trailer) > 0 {
		if len(resp.Trailer) == announced {
			for k, vv := range resp.Trailer {
				h[k] = vv
			}
		} else {
			for k, vv := range resp.Trailer {
				h[http.TrailerPrefix+k] = vv
			}
		}
	}

	reuse := true
	if bodyDone != nil {
		if len(bodyDone) == 0 {
			// The upstream answered before the request body was all sent:
			// deliver the response now, then wait for the body briefly.
			_ = rc.Flush()
		}
		reuse = fwdEndBody(pc, rc, bodyDone, fwdBodyWriteWait) == nil
	}
	if !stop() {
		reuse = false // the visitor left and pc is being closed
	}
	if reuse && !resp.Close {
		u.fwdPut(pc)
	} else {
		_ = pc.c.Close()
	}
	return status, nil
}

// fwdIsIOError reports whether a response read failed for lack of bytes
// (connection closed or broken) rather than because of what was sent.
func fwdIsIOError(err error) bool {
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.As(err, &ne)
}

// fwdSwitch completes a protocol switch (WebSocket and other upgrades):
// it hijacks the visitor's connection, sends it the 101 response and
// splices both connections until both directions end.
func fwdSwitch(w http.ResponseWriter, r *http.Request, pc *fwdConn, resp *http.Response, upType string, stop func() bool) (int, error) {
	stop() // from here the splice ends with either connection
	got := fwdUpgradeType(resp.Header)
	if upType == "" || !strings.EqualFold(got, upType) {
		_ = pc.c.Close()
		return fwdFailEarly(w, r, PageBadUpstream, fmt.Errorf("httpedge: upstream switched to protocol %q when %q was requested", got, upType))
	}
	vc, vrw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		_ = pc.c.Close()
		return fwdFailEarly(w, r, PageBadUpstream, fmt.Errorf("httpedge: switch protocols: %w", err))
	}
	_ = vc.SetDeadline(time.Time{})
	vrw.Writer.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	_ = resp.Header.Write(vrw.Writer)
	vrw.Writer.WriteString("\r\n")
	if err := vrw.Writer.Flush(); err != nil {
		_ = vc.Close()
		_ = pc.c.Close()
		return http.StatusSwitchingProtocols, fmt.Errorf("httpedge: write 101 response: %w", err)
	}
	// The visitor's bytes already read sit in vrw.Reader, the upstream's
	// in pc.br: the splice reads through both.
	if _, err := tunnel.SpliceReaders(vc, vrw.Reader, pc.c, pc.br); err != nil {
		return http.StatusSwitchingProtocols, fmt.Errorf("httpedge: upgraded connection: %w", err)
	}
	return http.StatusSwitchingProtocols, nil
}

// fwdWriteHead writes the request line and header of r to bw (without
// flushing): hop-by-hop headers, Expect and visitor framing headers are
// left out; the upgrade, TE: trailers and the body framing are written as
// the edge decides. Header lines with invalid names or values are dropped.
func fwdWriteHead(bw *bufio.Writer, r *http.Request, hasBody, chunked bool, upType string) {
	bw.WriteString(r.Method)
	bw.WriteByte(' ')
	fwdWriteTarget(bw, r.URL.RequestURI())
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	fwdWriteTarget(bw, host)
	bw.WriteString("\r\n")

	conn := r.Header["Connection"]
	for k, vv := range r.Header {
		if fwdSkipHeader(conn, k) || fwdRequestFraming(k) || !httpguts.ValidHeaderFieldName(k) {
			continue
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				continue
			}
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	if upType != "" {
		bw.WriteString("Connection: Upgrade\r\nUpgrade: ")
		bw.WriteString(upType)
		bw.WriteString("\r\n")
	}
	if te := r.Header["Te"]; len(te) > 0 && httpguts.HeaderValuesContainsToken(te, "trailers") {
		bw.WriteString("Te: trailers\r\n")
	}
	switch {
	case chunked:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
		first := true
		for k := range r.Trailer {
			if !httpguts.ValidHeaderFieldName(k) || !fwdForwardTrailer(r.Header, k) {
				continue
			}
			if first {
				bw.WriteString("Trailer: ")
			} else {
				bw.WriteString(", ")
			}
			first = false
			bw.WriteString(k)
		}
		if !first {
			bw.WriteString("\r\n")
		}
	case hasBody:
		bw.WriteString("Content-Length: ")
		var num [20]byte
		bw.Write(strconv.AppendInt(num[:0], r.ContentLength, 10))
		bw.WriteString("\r\n")
	default:
		switch r.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch:
			bw.WriteString("Content-Length: 0\r\n")
		default:
			if _, ok := r.Header["Content-Length"]; ok {
				bw.WriteString("Content-Length: 0\r\n")
			}
		}
	}
	bw.WriteString("\r\n")
}

// fwdRequestFraming reports whether the request header k is one the edge
// writes itself or drops rather than copying from the visitor.
func fwdRequestFraming(k string) bool {
	switch len(k) {
	case 4:
		return strings.EqualFold(k, "Host")
	case 6:
		return strings.EqualFold(k, "Expect")
	case 14:
		return strings.EqualFold(k, "Content-Length")
	}
	return false
}

// fwdWriteTarget writes a request target or host, percent-encoding any
// space, control or non-ASCII byte so the request line stays well-formed
// whatever the visitor's protocol let through.
func fwdWriteTarget(bw *bufio.Writer, s string) {
	const hex = "0123456789ABCDEF"
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c > ' ' && c < 0x7f {
			continue
		}
		bw.WriteString(s[start:i])
		bw.WriteByte('%')
		bw.WriteByte(hex[c>>4])
		bw.WriteByte(hex[c&0xf])
		start = i + 1
	}
	bw.WriteString(s[start:])
}

// fwdVisitorError marks a failure reading the visitor's request body.
type fwdVisitorError struct{ err error }

func (e *fwdVisitorError) Error() string { return "httpedge: read request body: " + e.err.Error() }
func (e *fwdVisitorError) Unwrap() error { return e.err }

// fwdBodyPage returns the page for a request that failed before its
// response because the visitor's body could not be read (bodyErr from
// fwdEndBody), and false for any other failure, which stays the upstream's.
// A stalled body is a 408; bad framing or a body cut short is a 400.
func fwdBodyPage(bodyErr error) (Page, bool) {
	var ve *fwdVisitorError
	if !errors.As(bodyErr, &ve) {
		return Page{}, false
	}
	var ne net.Error
	if errors.As(ve.err, &ne) && ne.Timeout() {
		return PageBodyTimeout, true
	}
	return PageBadBody, true
}

// fwdSendBody writes r's body (after the head already in pc.bw) and
// reports the result on done. If reading the visitor's body fails, pc is
// closed so the upstream sees a truncated request, not a complete one.
func fwdSendBody(pc *fwdConn, r *http.Request, chunked bool, done chan<- error) {
	err := fwdWriteBody(pc, r, chunked)
	var ve *fwdVisitorError
	if errors.As(err, &ve) {
		_ = pc.c.Close()
	}
	done <- err
}

// fwdWriteBody copies r.Body to pc.bw, flushing after every read so
// streamed uploads go through at once: exactly ContentLength bytes, or
// chunked with r.Trailer after the last chunk. It sets pc.bodyRead once
// r.Body is read to its end.
func fwdWriteBody(pc *fwdConn, r *http.Request, chunked bool) error {
	bw := pc.bw
	bp := tunnel.Buffer()
	defer tunnel.PutBuffer(bp)
	buf := *bp
	var dst io.Writer = bw
	var cw io.WriteCloser
	if chunked {
		cw = httputil.NewChunkedWriter(bw)
		dst = cw
	}
	remaining := r.ContentLength // < 0: unknown
	for remaining != 0 {
		p := buf
		if remaining > 0 && int64(len(p)) > remaining {
			p = p[:remaining]
		}
		n, rerr := r.Body.Read(p)
		if n > 0 {
			if _, err := dst.Write(p[:n]); err != nil {
				return fmt.Errorf("httpedge: write request body: %w", err)
			}
			if remaining > 0 {
				remaining -= int64(n)
			}
			if remaining == 0 {
				// Before the flush: the upstream may answer as soon as
				// it has the last byte, and fwdRelay must not think the
				// body is still being read then.
				pc.bodyRead.Store(true)
			}
			if err := bw.Flush(); err != nil {
				return fmt.Errorf("httpedge: write request body: %w", err)
			}
		}
		if rerr == io.EOF {
			if remaining > 0 {
				return &fwdVisitorError{io.ErrUnexpectedEOF}
			}
			break
		}
		if rerr != nil {
			return &fwdVisitorError{rerr}
		}
	}
	pc.bodyRead.Store(true)
	if chunked {
		_ = cw.Close() // writes the last chunk "0\r\n" into bw
		for k, vv := range r.Trailer {
			if !httpguts.ValidHeaderFieldName(k) || !fwdForwardTrailer(r.Header, k) {
				continue
			}
			for _, v := range vv {
				if !httpguts.ValidHeaderFieldValue(v) {
					continue
				}
				bw.WriteString(k)
				bw.WriteString(": ")
				bw.WriteString(v)
				bw.WriteString("\r\n")
			}
		}
		bw.WriteString("\r\n")
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("httpedge: write request body: %w", err)
	}
	return nil
}

// fwdEndBody waits for the request body writer (if any, done non-nil) and
// returns its result. If it has not finished within grace it is aborted
// and an error returned: pc is closed, which ends writes to the upstream;
// a writer still blocked reading the visitor's body after a further
// fwdBodyWriteWait is interrupted with a read deadline on the visitor's
// connection (which net/http then closes after the response).
func fwdEndBody(pc *fwdConn, rc *http.ResponseController, done chan error, grace time.Duration) error {
	if done == nil {
		return nil
	}
	select {
	case err := <-done:
		return err
	default:
	}
	var t *time.Timer
	if grace > 0 {
		t = time.NewTimer(grace)
		select {
		case err := <-done:
			t.Stop()
			return err
		case <-t.C:
		}
	}
	_ = pc.c.Close()
	if !pc.bodyRead.Load() {
		if t == nil {
			t = time.NewTimer(fwdBodyWriteWait)
		} else {
			t.Reset(fwdBodyWriteWait)
		}
		select {
		case err := <-done:
			t.Stop()
			return fwdAbortedBody(err)
		case <-t.C:
			// If rc cannot set deadlines, this waits for the visitor.
			_ = rc.SetReadDeadline(time.Now())
		}
	}
	<-done // ended by the closed pc or the deadline just set: not the visitor's fault
	return errFwdBodyAborted
}

// fwdAbortedBody is fwdEndBody's result for a body writer that finished
// on its own after pc was closed: the visitor's body error if it had one
// (the writer may have closed pc itself a moment before), else
// errFwdBodyAborted.
func fwdAbortedBody(err error) error {
	var ve *fwdVisitorError
	if errors.As(err, &ve) {
		return err
	}
	return errFwdBodyAborted
}

// fwdGet returns an idle connection (most recently used first) or, if
// there is none or fresh is set, dials a new one.
func (u *Upstream) fwdGet(ctx context.Context, visitor netip.AddrPort, fresh bool) (*fwdConn, error) {
	now := time.Now()
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return nil, errFwdClosed
	}
	if n := len(u.idle); n > 0 && !fresh {
		pc := u.idle[n-1]
		u.idle[n-1] = nil
		u.idle = u.idle[:n-1]
		if now.Sub(pc.idleSince) < u.opts.IdleTimeout {
			u.mu.Unlock()
			pc.reused = true
			return pc, nil
		}
		// The newest idle connection expired, so all did.
		stale := append(u.idle, pc)
		u.idle = nil
		u.mu.Unlock()
		for _, s := range stale {
			_ = s.c.Close()
		}
	} else {
		u.mu.Unlock()
	}
	return u.fwdDial(ctx, visitor)
}

// fwdDial opens a new connection, giving up at the dial timeout even if
// the tunnel.DialFunc ignores its context. A connection that arrives after the
// caller gave up is pooled for the next request.
func (u *Upstream) fwdDial(ctx context.Context, visitor netip.AddrPort) (*fwdConn, error) {
	u.dials.Add(1)
	ctx, cancel := context.WithTimeout(ctx, u.opts.DialTimeout)
	defer cancel()
	type result struct {
		c   tunnel.Conn
		err error
	}
	var state atomic.Int32 // 0 waiting, 1 delivered, 2 abandoned
	ch := make(chan result, 1)
	go func() {
		c, err := u.dial(ctx, visitor)
		if err == nil && c == nil {
			err = errors.New("dial returned no connection")
		}
		if state.CompareAndSwap(0, 1) {
			ch <- result{c, err}
			return
		}
		if err == nil {
			u.fwdPut(fwdNewConn(c))
		}
	}()
	select {
	case res := <-ch:
		if res.err != nil {
			return nil, fmt.Errorf("httpedge: dial upstream: %w", res.err)
		}
		return fwdNewConn(res.c), nil
	case <-ctx.Done():
		if !state.CompareAndSwap(0, 2) {
			res := <-ch
			if res.err != nil {
				return nil, fmt.Errorf("httpedge: dial upstream: %w", res.err)
			}
			return fwdNewConn(res.c), nil
		}
		return nil, fmt.Errorf("httpedge: dial upstream: %w", context.Cause(ctx))
	}
}

// fwdPut returns pc to the idle pool, or closes it if the pool is closed
// or full. It also closes connections that have been idle too long.
func (u *Upstream) fwdPut(pc *fwdConn) {
	now := time.Now()
	u.mu.Lock()
	if u.closed || len(u.idle) >= u.opts.MaxIdle || pc.br.Buffered() > 0 {
		u.mu.Unlock()
		_ = pc.c.Close()
		return
	}
	pc.idleSince = now
	u.idle = append(u.idle, pc)
	stale := u.fwdTakeExpiredLocked(now)
	u.fwdArmSweepLocked(now)
	u.mu.Unlock()
	for _, s := range stale {
		_ = s.c.Close()
	}
}

// fwdDropStale closes the idle connections that went idle no later than
// since: a connection idle that long was found closed by the upstream
// (e.g. node's 5 s keepAliveTimeout), so the older ones are closed too.
func (u *Upstream) fwdDropStale(since time.Time) {
	u.mu.Lock()
	n := 0
	for n < len(u.idle) && !u.idle[n].idleSince.After(since) {
		n++
	}
	stale := make([]*fwdConn, n)
	copy(stale, u.idle[:n])
	k := copy(u.idle, u.idle[n:])
	clear(u.idle[k:])
	u.idle = u.idle[:k]
	u.mu.Unlock()
	for _, s := range stale {
		_ = s.c.Close()
	}
}

// fwdTakeExpiredLocked removes and returns the idle connections older
// than the idle timeout, and those beyond the KeepIdle most recent older
// than the burst timeout (the oldest are first in u.idle). u.mu is held.
func (u *Upstream) fwdTakeExpiredLocked(now time.Time) []*fwdConn {
	n := 0
	for n < len(u.idle) && now.Sub(u.idle[n].idleSince) >= u.fwdIdleLimitLocked(n) {
		n++
	}
	if n == 0 {
		return nil
	}
	stale := make([]*fwdConn, n)
	copy(stale, u.idle[:n])
	k := copy(u.idle, u.idle[n:])
	clear(u.idle[k:])
	u.idle = u.idle[:k]
	return stale
}

// fwdIdleLimitLocked is how long the idle connection at index i of u.idle
// may stay idle while u.idle is as long as it is now.
func (u *Upstream) fwdIdleLimitLocked(i int) time.Duration {
	if len(u.idle)-i > u.opts.KeepIdle {
		return u.opts.BurstIdleTimeout
	}
	return u.opts.IdleTimeout
}

// fwdArmSweepLocked makes the sweep timer fire when the oldest idle
// connection expires (earlier than it is armed for, if need be).
func (u *Upstream) fwdArmSweepLocked(now time.Time) {
	if len(u.idle) == 0 {
		return
	}
	at := u.idle[0].idleSince.Add(u.fwdIdleLimitLocked(0))
	if u.sweepArmed && !at.Before(u.sweepAt) {
		return
	}
	u.sweepArmed, u.sweepAt = true, at
	if u.sweep == nil {
		u.sweep = time.AfterFunc(at.Sub(now), u.fwdSweep)
	} else {
		u.sweep.Reset(at.Sub(now))
	}
}

// fwdSweep runs on the Upstream's timer: it closes expired idle
// connections and re-arms for the oldest remaining one.
func (u *Upstream) fwdSweep() {
	now := time.Now()
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return
	}
	stale := u.fwdTakeExpiredLocked(now)
	u.sweepArmed = false
	u.fwdArmSweepLocked(now)
	u.mu.Unlock()
	for _, s := range stale {
		_ = s.c.Close()
	}
}
