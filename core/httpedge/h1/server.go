// Package h1 serves HTTP/1.x visitor connections to an http.Handler with
// one goroutine per connection and no background read while a request is
// being handled: the edge's own visitor loop, used in place of net/http's
// server for HTTP/1 (net/http keeps HTTP/2).
//
// Requests are parsed with net/http's own parser (http.ReadRequest, the
// one net/http's server uses) after a scan of the raw head that refuses
// what a front end must never pass on (head.go: bare LF or CR, obs-fold,
// Content-Length with Transfer-Encoding, a repeated Content-Length), so
// the edge and the tunnel owner's server cannot disagree on where a
// request ends. Responses are written by response.go with net/http's
// semantics where the forwarding engine relies on them: 1xx heads,
// 100-continue on the first body read, HEAD, chunking and trailers,
// Content-Length for short unflushed bodies, Hijack for upgrades, full
// duplex, http.ResponseController deadlines and ErrAbortHandler.
//
// What net/http spends per request and this loop does not: the background
// read started for every request (a goroutine, an EAGAIN read and a
// deadline poke to stop it; watch.go starts one only for a request still
// running after WatchDelay), a context per request, and a fresh header map
// and buffers per request (a connection reuses its own).
package h1

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for Server's zero fields.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultMaxHeaderBytes    = 64 << 10
	// WatchDelay is how long a request runs before its connection is
	// watched for the visitor going away (watch.go).
	WatchDelay = 100 * time.Millisecond
	// maxDiscard is how much of a request body the handler left unread is
	// read and dropped to keep the connection; beyond it the connection
	// closes after the response (net/http's rule and number).
	maxDiscard = 256 << 10
	// lingerTime bounds reading what a visitor still sends after the edge
	// closed its side, so the response is not lost to a TCP reset.
	lingerTime = 500 * time.Millisecond
)

// Server serves HTTP/1 connections handed to ServeConn.
type Server struct {
	// Handler serves every request that parses and passes the head checks.
	Handler http.Handler
	// ReadHeaderTimeout bounds reading a request head from its first byte.
	// Default DefaultReadHeaderTimeout.
	ReadHeaderTimeout time.Duration
	// IdleTimeout bounds the wait for a request's first byte, on a new
	// connection as on a kept-alive one (browsers open connections ahead
	// of need). Default DefaultIdleTimeout.
	IdleTimeout time.Duration
	// MaxHeaderBytes caps a request head; a larger one gets 431. Default
	// DefaultMaxHeaderBytes.
	MaxHeaderBytes int
	// Refuse writes the response to a request refused before the handler
	// (status 400, 417, 431, 501 or 505; reason is a short lowercase
	// phrase safe to show). Nil writes a plain-text status line.
	Refuse func(w http.ResponseWriter, status int, reason string)
	// Logger receives handler panics; default slog.Default().
	Logger *slog.Logger

	mu      sync.Mutex
	conns   map[*conn]struct{}
	closing atomic.Bool
}

// ServeConn serves c until it closes, its visitor stops sending requests,
// or Shutdown; it closes c unless a handler hijacked it. tlsState is the
// finished handshake's state for a TLS connection, else nil.
func (s *Server) ServeConn(c net.Conn, tlsState *tls.ConnectionState) {
	cn := newConn(s, c, tlsState)
	if !s.track(cn, true) {
		_ = c.Close()
		return
	}
	defer s.track(cn, false)
	cn.serve()
}

func (s *Server) track(c *conn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !add {
		delete(s.conns, c)
		return true
	}
	if s.closing.Load() {
		return false
	}
	if s.conns == nil {
		s.conns = make(map[*conn]struct{})
	}
	s.conns[c] = struct{}{}
	return true
}

// Shutdown closes idle connections at once and the others once their
// request is answered, waiting for them until ctx ends (then it closes
// them all and returns ctx's error). Connections handed in later are
// closed at once.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if s.closeIdle() {
			return nil
		}
		select {
		case <-ctx.Done():
			s.mu.Lock()
			for c := range s.conns {
				_ = c.rwc.Close()
			}
			s.mu.Unlock()
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// closeIdle closes the connections waiting for a request and reports
// whether none is left.
func (s *Server) closeIdle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.state.CompareAndSwap(stateIdle, stateClosed) {
			_ = c.rwc.Close()
		}
	}
	return len(s.conns) == 0
}

func (s *Server) readHeaderTimeout() time.Duration {
	if s.ReadHeaderTimeout > 0 {
		return s.ReadHeaderTimeout
	}
	return DefaultReadHeaderTimeout
}

func (s *Server) idleTimeout() time.Duration {
	if s.IdleTimeout > 0 {
		return s.IdleTimeout
	}
	return DefaultIdleTimeout
}

func (s *Server) maxHeaderBytes() int {
	if s.MaxHeaderBytes > 0 {
		return s.MaxHeaderBytes
	}
	return DefaultMaxHeaderBytes
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// errVisitorGone is the cause of a request's context when its visitor's
// connection ended while the request was being handled.
var errVisitorGone = errors.New("h1: visitor closed the connection")
