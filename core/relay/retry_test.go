package relay

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/sshgress/sshgress/core/tunnel"
)

// TestRelayRetryElsewhere: a visitor whose upstream cannot be dialed is
// handed to another relay (a pool's other member) and served there, and a
// handed-over visitor is never handed on again.
func TestRelayRetryElsewhere(t *testing.T) {
	be := startLogBackend(t)
	good, _, goodDials := relayOn(t, "127.0.0.1:0", Rules{}, 0, be)
	var failed atomic.Int64
	down := func(context.Context, netip.AddrPort) (tunnel.Conn, error) {
		failed.Add(1)
		return nil, errors.New("channel refused")
	}
	bad := New(Rules{}, down, 0, nil)
	bad.RetryElsewhere(func(v net.Conn, hello []byte) bool { good.ServeRetried(v, hello); return true })
	c := dialFrom(t, "127.0.0.1", serveOn(t, "127.0.0.1:0", bad).String())
	if !echoes(c, "through the other member") {
		t.Fatalf("a visitor of a relay whose dial fails was not served by the other relay")
	}
	if failed.Load() != 1 || goodDials.Load() != 1 {
		t.Errorf("dials: %d failed, %d on the other relay; want 1 and 1", failed.Load(), goodDials.Load())
	}

	// Two failing relays retrying into each other: one retry, then closed.
	var a, b *Relay
	a, b = New(Rules{}, down, 0, nil), New(Rules{}, down, 0, nil)
	a.RetryElsewhere(func(v net.Conn, h []byte) bool { b.ServeRetried(v, h); return true })
	b.RetryElsewhere(func(v net.Conn, h []byte) bool { a.ServeRetried(v, h); return true })
	t.Cleanup(b.Close)
	failed.Store(0)
	c = dialFrom(t, "127.0.0.1", serveOn(t, "127.0.0.1:0", a).String())
	if !refused(t, c) {
		t.Errorf("a visitor no relay could dial for was served, want it closed")
	}
	if got := failed.Load(); got != 2 {
		t.Errorf("%d dials for one visitor, want 2 (the first and one retry)", got)
	}
}
