package forward

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"time"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"

	"github.com/sshgress/sshgress/core/tunnel"
)

// HTTP/2 to the tunnel owner's service (--upstream-protocol http2): one
// SSH channel carries many requests as streams, with HTTP/2's own flow
// control. The connection is x/net/http2's (h2c with prior knowledge,
// or h2 over TLS with ALPN); the edge keeps doing what it does for
// HTTP/1.1 around it: headers in and out, the tunnel's edits, pages for
// failures, compression, streaming.
const (
	// h2PingAfter: a connection with no frame read for this long is
	// pinged, and closed if the ping is not answered within h2PingTimeout.
	h2PingAfter   = 30 * time.Second
	h2PingTimeout = 15 * time.Second
)

// h2Originator is the originator address of the SSH channels of HTTP/2
// connections: a connection carries many visitors' requests, so it names
// none of them (X-Forwarded-For still names each).
var h2Originator = netip.AddrPortFrom(netip.IPv4Unspecified(), 0)

// UseHTTP2 makes u send requests as HTTP/2 (--upstream-protocol http2):
// h2c with prior knowledge, or, with tlsCfg, h2 over TLS negotiated by
// ALPN (a service that does not offer h2 fails the request with a 502).
// Requests that upgrade the connection (WebSocket) still go as HTTP/1.1
// on a channel of their own: HTTP/2 has no Upgrade. Call it before the
// first Forward.
func (u *Upstream) UseHTTP2(tlsCfg *UpstreamTLS) {
	var cfg *tls.Config
	if tlsCfg != nil {
		cfg = tlsCfg.config("h2")
	}
	t := &http2.Transport{
		AllowHTTP:          cfg == nil,
		ReadIdleTimeout:    h2PingAfter,
		PingTimeout:        h2PingTimeout,
		IdleConnTimeout:    u.opts.IdleTimeout,
		MaxHeaderListSize:  maxResponseHead,
		DisableCompression: true, // the visitor's Accept-Encoding goes through as sent
		DialTLSContext: func(ctx context.Context, _, _ string, _ *tls.Config) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(ctx, u.opts.DialTimeout)
			defer cancel()
			u.dials.Add(1)
			c, err := u.dial(ctx, h2Originator)
			if err != nil {
				return nil, &dialError{err}
			}
			if cfg == nil {
				return u.trackH2(tunnel.NetConn(c))
			}
			tc, err := tlsHandshake(ctx, c, cfg)
			if err != nil {
				return nil, err
			}
			if tc.ConnectionState().NegotiatedProtocol != "h2" {
				_ = tc.Close()
				return nil, &UpstreamTLSError{err: errors.New("the service did not offer HTTP/2 (ALPN h2)"),
					hint: "upstream TLS: your service did not offer HTTP/2 in its TLS handshake (ALPN h2); drop --upstream-protocol http2 to speak HTTP/1.1 to it"}
			}
			return u.trackH2(tc)
		},
	}
	u.h2, u.h2Scheme = t, "http"
	if cfg != nil {
		u.h2Scheme = "https"
	}
}

// dialError is a channel to the service that could not be opened.
type dialError struct{ err error }

func (e *dialError) Error() string { return "forward: dial upstream: " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// forwardH2 is forward for an Upstream that speaks HTTP/2.
func (u *Upstream) forwardH2(w http.ResponseWriter, r *http.Request, hasBody bool) (int, error) {
	u.mu.Lock()
	closed := u.closed
	if !closed {
		u.h2active++
	}
	u.mu.Unlock()
	if closed {
		return u.failEarly(w, r, UpstreamDown, errClosed)
	}
	defer func() {
		u.mu.Lock()
		u.h2active--
		drained := u.h2Drained()
		u.mu.Unlock()
		closeAll(drained)
	}()
	body := io.Reader(http.NoBody)
	if hasBody {
		body = &visitorBody{r.Body}
	}
	out, err := http.NewRequestWithContext(r.Context(), r.Method, u.h2Scheme+"://upstream"+r.URL.RequestURI(), body)
	if err != nil {
		return u.failEarly(w, r, BadBody, err)
	}
	out.ContentLength = 0
	if hasBody {
		out.ContentLength = r.ContentLength // -1 when chunked
	}
	out.Host = r.Host
	if h := u.host.Load(); h != nil {
		out.Host = *h
	}
	conn := r.Header["Connection"]
	for k, vv := range r.Header {
		if HopByHop(conn, k) || requestFraming(k) || !httpguts.ValidHeaderFieldName(k) {
			continue
		}
		out.Header[k] = vv
	}
	if te := r.Header["Te"]; len(te) > 0 && httpguts.HeaderValuesContainsToken(te, "trailers") {
		out.Header.Set("Te", "trailers")
	}
	resp, err := u.h2.RoundTrip(out)
	if err != nil {
		if f, ok := bodyFailure(err); ok {
			return u.failBody(w, r, f, err)
		}
		var dialErr *dialError
		var tlsErr *UpstreamTLSError
		if !errors.As(err, &dialErr) && !errors.As(err, &tlsErr) && r.Context().Err() == nil {
			// The channel opened but no HTTP/2 answer came back.
			err = &protocolError{err}
		} else {
			err = fmt.Errorf("forward: http2 upstream: %w", err)
		}
		return u.failEarly(w, r, UpstreamDown, err)
	}
	defer resp.Body.Close()
	return u.relayH2(w, r, resp)
}

// trackH2 records c among the HTTP/2 connections Close ends (c forgets
// itself when the transport closes it); after Close it closes c instead.
func (u *Upstream) trackH2(c net.Conn) (net.Conn, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		_ = c.Close()
		return nil, &dialError{errClosed}
	}
	if u.h2conns == nil {
		u.h2conns = make(map[net.Conn]struct{})
	}
	u.h2conns[c] = struct{}{}
	t := trackedConn{Conn: c, u: u}
	if tc, ok := c.(*tls.Conn); ok {
		return trackedTLSConn{t, tc}, nil
	}
	return t, nil
}

// trackedConn is an HTTP/2 connection of u's that leaves u.h2conns when
// closed.
type trackedConn struct {
	net.Conn
	u *Upstream
}

func (c trackedConn) Close() error {
	c.u.mu.Lock()
	delete(c.u.h2conns, c.Conn)
	c.u.mu.Unlock()
	return c.Conn.Close()
}

// trackedTLSConn keeps the TLS state visible to the transport.
type trackedTLSConn struct {
	trackedConn
	tc *tls.Conn
}

func (c trackedTLSConn) ConnectionState() tls.ConnectionState { return c.tc.ConnectionState() }

// h2Drained returns, and forgets, the HTTP/2 connections to close: all of
// them once u is closed and no request is using them, else none. u.mu
// must be held.
func (u *Upstream) h2Drained() map[net.Conn]struct{} {
	if !u.closed || u.h2active > 0 {
		return nil
	}
	conns := u.h2conns
	u.h2conns = nil
	return conns
}

// closeAll closes each of conns.
func closeAll(conns map[net.Conn]struct{}) {
	for c := range conns {
		_ = c.Close()
	}
}

// visitorBody marks a failed read of the visitor's body (visitorError),
// so a body the visitor broke is not blamed on the upstream.
type visitorBody struct{ r io.Reader }

func (b *visitorBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		err = &visitorError{err}
	}
	return n, err
}

// relayH2 streams an HTTP/2 response to the visitor, flushing whenever
// the upstream's bytes pause.
func (u *Upstream) relayH2(w http.ResponseWriter, r *http.Request, resp *http.Response) (int, error) {
	rc := http.NewResponseController(w)
	if err := u.reviewHead(r, resp); err != nil {
		return u.failEarly(w, r, ReviewFailed, err)
	}
	announced, zw := u.startResponse(w, r, resp)
	status := resp.StatusCode
	w.WriteHeader(status)
	if announced > 0 {
		_ = rc.Flush()
	}
	var out io.Writer = w
	if zw != nil {
		out = zw
	}
	bp := tunnel.Buffer()
	defer tunnel.PutBuffer(bp)
	buf := *bp
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := out.Write(buf[:n]); werr != nil {
				zw.Release()
				return status, fmt.Errorf("forward: write response: %w", werr)
			}
			if werr := zw.Flush(); werr != nil {
				zw.Release()
				return status, fmt.Errorf("forward: write response: %w", werr)
			}
			_ = rc.Flush()
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			zw.Release()
			if errors.Is(r.Context().Err(), context.Canceled) {
				return status, fmt.Errorf("forward: visitor went away: %w", context.Cause(r.Context()))
			}
			panic(http.ErrAbortHandler) // the visitor sees the response cut short
		}
	}
	if werr := zw.Close(); werr != nil {
		return status, fmt.Errorf("forward: write response: %w", werr)
	}
	setTrailers(w.Header(), resp.Trailer, announced)
	return status, nil
}
