package httpedge

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"
)

// errTooManyFiles is Accept's error when the process is out of file
// descriptors: worth waiting out, as net/http does.
var errTooManyFiles = syscall.EMFILE

// Serve accepts plain-HTTP visitors on l until Shutdown, each connection
// served by the edge's own HTTP/1 loop (package h1). A new connection may
// wait up to IdleTimeout for its first request to begin.
func (e *Edge) Serve(l net.Listener) error {
	return e.accept(l, func(c net.Conn) { e.h1.ServeConn(c, nil) })
}

// ServeTLS serves visitors whose TLS the caller terminates: l returns
// *tls.Conn connections (handshake not yet done; it is done here, bounded
// by ReadHeaderTimeout). A visitor that negotiates h2 is served by
// net/http's HTTP/2 server, the others by the HTTP/1 loop. Shutdown
// closes l too.
func (e *Edge) ServeTLS(l net.Listener) error {
	e.h2once.Do(func() {
		go func() {
			if err := e.srv.Serve(e.h2conns); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
				e.log.Error("http/2 server stopped", "err", err)
			}
		}()
	})
	return e.accept(l, e.serveTLSConn)
}

// serveTLSConn finishes a visitor's TLS handshake and serves it.
func (e *Edge) serveTLSConn(c net.Conn) {
	tc, ok := c.(*tls.Conn)
	if !ok {
		e.h1.ServeConn(c, nil)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.opts.ReadHeaderTimeout)
	_ = c.SetDeadline(time.Now().Add(e.opts.ReadHeaderTimeout))
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		e.log.Debug("visitor TLS handshake failed", "remote", c.RemoteAddr(), "err", err)
		_ = c.Close()
		return
	}
	_ = c.SetDeadline(time.Time{})
	cs := tc.ConnectionState()
	if cs.NegotiatedProtocol == "h2" {
		if !e.h2conns.Deliver(c) {
			_ = c.Close()
		}
		return
	}
	e.h1.ServeConn(c, &cs)
}

// accept runs serve for each connection l accepts until Shutdown; it
// returns nil after Shutdown, else Accept's lasting error.
func (e *Edge) accept(l net.Listener, serve func(net.Conn)) error {
	e.lnMu.Lock()
	if e.closing {
		e.lnMu.Unlock()
		_ = l.Close()
		return nil
	}
	e.lns = append(e.lns, l)
	e.lnMu.Unlock()
	var backoff time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			e.lnMu.Lock()
			closing := e.closing
			e.lnMu.Unlock()
			if closing {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errTooManyFiles) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		go serve(c)
	}
}

// Shutdown stops accepting visitors, closes idle connections and waits
// for in-flight requests, bounded by ctx.
func (e *Edge) Shutdown(ctx context.Context) error {
	e.lnMu.Lock()
	e.closing = true
	for _, l := range e.lns {
		_ = l.Close()
	}
	e.lnMu.Unlock()
	_ = e.h2conns.Close()
	return errors.Join(e.h1.Shutdown(ctx), e.srv.Shutdown(ctx))
}

// writeRefusal is the page of a request the HTTP/1 loop refuses before
// routing (a malformed head, one too large).
func writeRefusal(w http.ResponseWriter, status int, reason string) {
	p := PageMalformed
	p.Status = status
	p.Title = http.StatusText(status)
	p.Detail = "The edge could not accept this request: " + strings.ReplaceAll(reason, "%", "") + ". It was not passed on."
	p.NoHost = p.Detail
	WritePage(w, nil, p, "")
}
