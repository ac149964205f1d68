package forward

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/sshgress/sshgress/core/tunnel"
)

// connBufSize is the size of each pooled connection's read and write
// buffers.
const connBufSize = 4 << 10

var (
	errClosed       = errors.New("forward: upstream closed")
	errHeadTooLarge = errors.New("forward: upstream response head too large")
)

// pooledConn is one pooled upstream connection with its buffers.
type pooledConn struct {
	c         tunnel.Conn
	lim       headLimitReader // between c and br: bounds response heads
	br        *bufio.Reader
	bw        *bufio.Writer
	idleSince time.Time
	reused    bool   // taken from the idle pool rather than freshly dialed
	abort     func() // closes c; registered with context.AfterFunc per request
	// bodyRead is set once the current request's body was read to its
	// end, so aborting its writer need not interrupt the visitor's reads.
	bodyRead atomic.Bool
}

// headLimitReader reads from r and fails once n bytes were read.
type headLimitReader struct {
	r io.Reader
	n int64
}

func (l *headLimitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errHeadTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

func newPooledConn(c tunnel.Conn) *pooledConn {
	pc := &pooledConn{c: c}
	pc.lim = headLimitReader{r: c, n: math.MaxInt64}
	pc.br = bufio.NewReaderSize(&pc.lim, connBufSize)
	pc.bw = bufio.NewWriterSize(c, connBufSize)
	pc.abort = func() { _ = c.Close() }
	return pc
}

// get returns an idle connection (most recently used first) or, if
// there is none or fresh is set, dials a new one.
func (u *Upstream) get(ctx context.Context, visitor netip.AddrPort, fresh bool) (*pooledConn, error) {
	now := time.Now()
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return nil, errClosed
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
	return u.dialConn(ctx, visitor)
}

// dialConn opens a new connection, giving up at the dial timeout even if
// the tunnel.DialFunc ignores its context. A connection that arrives after the
// caller gave up is pooled for the next request.
func (u *Upstream) dialConn(ctx context.Context, visitor netip.AddrPort) (*pooledConn, error) {
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
		if err == nil && u.tls != nil {
			var tc *tls.Conn
			if tc, err = tlsHandshake(ctx, c, u.tls); err == nil {
				c = tc
			}
		}
		if state.CompareAndSwap(0, 1) {
			ch <- result{c, err}
			return
		}
		if err == nil {
			u.put(newPooledConn(c))
		}
	}()
	select {
	case res := <-ch:
		if res.err != nil {
			return nil, fmt.Errorf("forward: dial upstream: %w", res.err)
		}
		return newPooledConn(res.c), nil
	case <-ctx.Done():
		if !state.CompareAndSwap(0, 2) {
			res := <-ch
			if res.err != nil {
				return nil, fmt.Errorf("forward: dial upstream: %w", res.err)
			}
			return newPooledConn(res.c), nil
		}
		return nil, fmt.Errorf("forward: dial upstream: %w", context.Cause(ctx))
	}
}

// put returns pc to the idle pool, or closes it if the pool is closed
// or full. It also closes connections that have been idle too long.
func (u *Upstream) put(pc *pooledConn) {
	now := time.Now()
	u.mu.Lock()
	if u.closed || len(u.idle) >= u.opts.MaxIdle || pc.br.Buffered() > 0 {
		u.mu.Unlock()
		_ = pc.c.Close()
		return
	}
	pc.idleSince = now
	u.idle = append(u.idle, pc)
	stale := u.takeExpiredLocked(now)
	u.armSweepLocked(now)
	u.mu.Unlock()
	for _, s := range stale {
		_ = s.c.Close()
	}
}

// dropStale closes the idle connections that went idle no later than
// since: a connection idle that long was found closed by the upstream
// (e.g. node's 5 s keepAliveTimeout), so the older ones are closed too.
func (u *Upstream) dropStale(since time.Time) {
	u.mu.Lock()
	n := 0
	for n < len(u.idle) && !u.idle[n].idleSince.After(since) {
		n++
	}
	stale := make([]*pooledConn, n)
	copy(stale, u.idle[:n])
	k := copy(u.idle, u.idle[n:])
	clear(u.idle[k:])
	u.idle = u.idle[:k]
	u.mu.Unlock()
	for _, s := range stale {
		_ = s.c.Close()
	}
}

// takeExpiredLocked removes and returns the idle connections older
// than the idle timeout, and those beyond the KeepIdle most recent older
// than the burst timeout (the oldest are first in u.idle). u.mu is held.
func (u *Upstream) takeExpiredLocked(now time.Time) []*pooledConn {
	n := 0
	for n < len(u.idle) && now.Sub(u.idle[n].idleSince) >= u.idleLimitLocked(n) {
		n++
	}
	if n == 0 {
		return nil
	}
	stale := make([]*pooledConn, n)
	copy(stale, u.idle[:n])
	k := copy(u.idle, u.idle[n:])
	clear(u.idle[k:])
	u.idle = u.idle[:k]
	return stale
}

// idleLimitLocked is how long the idle connection at index i of u.idle
// may stay idle while u.idle is as long as it is now.
func (u *Upstream) idleLimitLocked(i int) time.Duration {
	if len(u.idle)-i > u.opts.KeepIdle {
		return u.opts.BurstIdleTimeout
	}
	return u.opts.IdleTimeout
}

// armSweepLocked makes the sweep timer fire when the oldest idle
// connection expires (earlier than it is armed for, if need be).
func (u *Upstream) armSweepLocked(now time.Time) {
	if len(u.idle) == 0 {
		return
	}
	at := u.idle[0].idleSince.Add(u.idleLimitLocked(0))
	if u.sweepArmed && !at.Before(u.sweepAt) {
		return
	}
	u.sweepArmed, u.sweepAt = true, at
	if u.sweep == nil {
		u.sweep = time.AfterFunc(at.Sub(now), u.sweepExpired)
	} else {
		u.sweep.Reset(at.Sub(now))
	}
}

// sweepExpired runs on the Upstream's timer: it closes expired idle
// connections and re-arms for the oldest remaining one.
func (u *Upstream) sweepExpired() {
	now := time.Now()
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return
	}
	stale := u.takeExpiredLocked(now)
	u.sweepArmed = false
	u.armSweepLocked(now)
	u.mu.Unlock()
	for _, s := range stale {
		_ = s.c.Close()
	}
}
