package forward

import (
	"io"
	"sync/atomic"
	"testing"
	"time"
)

// fakeConn is a tunnel.Conn that only records Close.
type fakeConn struct{ closed atomic.Bool }

func (c *fakeConn) Read([]byte) (int, error)    { return 0, io.EOF }
func (c *fakeConn) Write(p []byte) (int, error) { return len(p), nil }
func (c *fakeConn) Close() error                { c.closed.Store(true); return nil }
func (c *fakeConn) CloseWrite() error           { return nil }

func TestUpstreamDropStale(t *testing.T) {
	u := NewUpstream(nil, Options{})
	defer u.Close()
	var conns []*fakeConn
	var pcs []*pooledConn
	for range 3 {
		c := &fakeConn{}
		pc := newPooledConn(c)
		conns = append(conns, c)
		pcs = append(pcs, pc)
		u.put(pc)
		time.Sleep(time.Millisecond)
	}
	// The middle connection was found stale: it and the older one go.
	u.dropStale(pcs[1].idleSince)
	if got := u.IdleCount(); got != 1 {
		t.Errorf("IdleCount() = %d, want 1", got)
	}
	for i, want := range []bool{true, true, false} {
		if got := conns[i].closed.Load(); got != want {
			t.Errorf("conn %d closed = %v, want %v", i, got, want)
		}
	}
}
