// Package connlisten is a net.Listener fed with connections by code that
// accepted them elsewhere: the TLS port hands terminated connections to
// the HTTP edge, and the HTTP edge hands HTTP/2 connections to net/http.
package connlisten

import (
	"net"
	"sync"
)

// Listener returns, from Accept, the connections given to Deliver.
type Listener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
	mu   sync.Mutex
	addr net.Addr
}

// New returns an open Listener whose Addr is an empty TCP address until
// SetAddr.
func New() *Listener {
	return &Listener{ch: make(chan net.Conn), done: make(chan struct{}), addr: &net.TCPAddr{}}
}

// SetAddr sets what Addr returns.
func (l *Listener) SetAddr(a net.Addr) {
	l.mu.Lock()
	l.addr = a
	l.mu.Unlock()
}

// Deliver hands c to Accept, waiting for it; false when the listener is
// closed (c is then the caller's to close).
func (l *Listener) Deliver(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

// Accept waits for a delivered connection.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close makes Accept and Deliver return at once. Idempotent.
func (l *Listener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr is the address set by SetAddr.
func (l *Listener) Addr() net.Addr {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.addr
}
