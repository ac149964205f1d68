// Tests of the sshgress patch: packets written by several goroutines at
// once leave in one write(2) (writeCoalescer).

package ssh

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// gatedConn records each Write and holds it until the test opens the gate.
type gatedConn struct {
	mu      sync.Mutex
	writes  [][]byte
	started chan struct{} // receives once per Write, before it waits
	gate    chan struct{}
	closed  chan struct{}
	once    sync.Once
}

func newGatedConn() *gatedConn {
	return &gatedConn{started: make(chan struct{}, 64), gate: make(chan struct{}), closed: make(chan struct{})}
}

func (g *gatedConn) Write(p []byte) (int, error) {
	g.started <- struct{}{}
	select {
	case <-g.gate:
	case <-g.closed:
		return 0, net.ErrClosed
	}
	g.mu.Lock()
	g.writes = append(g.writes, append([]byte(nil), p...))
	g.mu.Unlock()
	return len(p), nil
}

func (g *gatedConn) Close() error {
	g.once.Do(func() { close(g.closed) })
	return nil
}

func (g *gatedConn) recorded() [][]byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([][]byte(nil), g.writes...)
}

func waitStarted(t *testing.T, g *gatedConn) {
	t.Helper()
	select {
	case <-g.started:
	case <-time.After(10 * time.Second):
		t.Fatal("no write reached the connection")
	}
}

// TestCoalescerTakesPacketsAlong: packets appended while a write is in
// progress leave together in the next write, in order, and their writers
// do not wait for it.
func TestCoalescerTakesPacketsAlong(t *testing.T) {
	g := newGatedConn()
	c := newWriteCoalescer(g)

	first := make(chan error, 1)
	go func() {
		c.setDeferred(true)
		_, err := c.Write([]byte("p0;"))
		c.setDeferred(false)
		if err == nil {
			err = c.flush()
		}
		first <- err
	}()
	waitStarted(t, g) // p0's write is in progress and held

	var want bytes.Buffer
	for i := 1; i <= 10; i++ {
		p := fmt.Appendf(nil, "p%d;", i)
		want.Write(p)
		c.setDeferred(true)
		if _, err := c.Write(p); err != nil {
			t.Fatal(err)
		}
		c.setDeferred(false)
		if err := c.flush(); err != nil { // returns: the write in progress takes p along
			t.Fatal(err)
		}
	}
	close(g.gate)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	<-g.started // the second write
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	got := g.recorded()
	if len(got) != 2 || string(got[0]) != "p0;" || !bytes.Equal(got[1], want.Bytes()) {
		t.Fatalf("writes = %q, want [\"p0;\" %q]", got, want.Bytes())
	}
}

// TestCoalescerWriteThroughWaits: a write that is not deferred (key
// exchange, disconnect) returns only once its bytes have been written,
// as upstream.
func TestCoalescerWriteThroughWaits(t *testing.T) {
	g := newGatedConn()
	c := newWriteCoalescer(g)
	done := make(chan error, 1)
	go func() {
		_, err := c.Write([]byte("kexinit"))
		done <- err
	}()
	waitStarted(t, g)
	select {
	case err := <-done:
		t.Fatalf("Write returned (%v) before its bytes were written", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(g.gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := g.recorded(); len(got) != 1 || string(got[0]) != "kexinit" {
		t.Fatalf("writes = %q", got)
	}
}

// TestCoalescerBoundsPending: behind a write that does not finish, at most
// coalesceMax bytes are accepted; the writer of the next packet waits.
func TestCoalescerBoundsPending(t *testing.T) {
	g := newGatedConn()
	c := newWriteCoalescer(g)
	go func() { c.Write([]byte("stuck")) }()
	waitStarted(t, g)

	c.setDeferred(true)
	if _, err := c.Write(make([]byte, coalesceMax)); err != nil {
		t.Fatal(err)
	}
	c.setDeferred(false)
	blocked := make(chan error, 1)
	go func() {
		c.setDeferred(true)
		_, err := c.Write([]byte("one more"))
		c.setDeferred(false)
		blocked <- err
	}()
	select {
	case err := <-blocked:
		t.Fatalf("Write past coalesceMax returned (%v) while the write in progress held", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(g.gate)
	if err := <-blocked; err != nil {
		t.Fatal(err)
	}
	c.Close()
}

// TestCoalescerCloseDeliversPending: bytes a writer appended but has not
// flushed yet still leave before the connection closes.
func TestCoalescerCloseDeliversPending(t *testing.T) {
	g := newGatedConn()
	close(g.gate)
	c := newWriteCoalescer(g)
	c.setDeferred(true)
	c.Write([]byte("disconnect"))
	c.setDeferred(false)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if got := g.recorded(); len(got) != 1 || string(got[0]) != "disconnect" {
		t.Fatalf("writes = %q, want the pending packet", got)
	}
}

// TestCoalescerCloseIsBounded: Close does not wait for a peer that reads
// nothing longer than closeDrain, and the stuck write then fails.
func TestCoalescerCloseIsBounded(t *testing.T) {
	g := newGatedConn() // the gate never opens
	c := newWriteCoalescer(g)
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write([]byte("never read"))
		werr <- err
	}()
	waitStarted(t, g)
	start := time.Now()
	c.Close()
	if d := time.Since(start); d > 10*closeDrain {
		t.Fatalf("Close took %v with a stuck write", d)
	}
	if err := <-werr; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("stuck write returned %v, want net.ErrClosed", err)
	}
}

// countingConn counts the writes reaching a real connection, each made
// slow enough that the other writers always find one in progress.
type countingConn struct {
	net.Conn
	writes atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	time.Sleep(200 * time.Microsecond)
	return c.Conn.Write(p)
}

// TestCoalescedChannelsIntact: many channels of one connection written at
// once arrive intact, and their packets leave in fewer writes than there
// are packets.
func TestCoalescedChannelsIntact(t *testing.T) {
	const channels, packets, size = 16, 200, 1000
	c1, c2, err := netPipe()
	if err != nil {
		t.Fatal(err)
	}
	counted := &countingConn{Conn: c1}
	clientConf := ClientConfig{User: "user", HostKeyCallback: InsecureIgnoreHostKey()}
	serverConf := ServerConfig{NoClientAuth: true}
	serverConf.AddHostKey(testSigners["ecdsa"])
	srvc := make(chan *ServerConn, 1)
	var chans <-chan NewChannel
	go func() {
		s, cs, reqs, err := NewServerConn(c2, &serverConf)
		if err != nil {
			t.Errorf("server: %v", err)
			srvc <- nil
			return
		}
		go DiscardRequests(reqs)
		chans = cs
		srvc <- s
	}()
	client, cchans, creqs, err := NewClientConn(counted, "", &clientConf)
	if err != nil {
		t.Fatal(err)
	}
	go DiscardRequests(creqs)
	go func() {
		for nc := range cchans {
			nc.Reject(Prohibited, "")
		}
	}()
	srv := <-srvc
	if srv == nil {
		t.FailNow()
	}
	defer srv.Close()
	conn := NewClient(client, cchans, creqs)
	defer conn.Close()

	sums := make(chan [sha256.Size]byte, channels)
	go func() {
		for nc := range chans {
			ch, reqs, err := nc.Accept()
			if err != nil {
				t.Error(err)
				return
			}
			go DiscardRequests(reqs)
			go func() {
				h := sha256.New()
				io.Copy(h, ch)
				ch.Close()
				var s [sha256.Size]byte
				copy(s[:], h.Sum(nil))
				sums <- s
			}()
		}
	}()

	before := counted.writes.Load()
	want := map[[sha256.Size]byte]int{}
	var wmu sync.Mutex
	var wg sync.WaitGroup
	for i := range channels {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ch, reqs, err := conn.OpenChannel("data", nil)
			if err != nil {
				t.Error(err)
				return
			}
			go DiscardRequests(reqs)
			h := sha256.New()
			buf := make([]byte, size)
			for j := range packets {
				for k := range buf {
					buf[k] = byte(i*31 + j*7 + k)
				}
				h.Write(buf)
				if _, err := ch.Write(buf); err != nil {
					t.Error(err)
					return
				}
			}
			ch.CloseWrite()
			var s [sha256.Size]byte
			copy(s[:], h.Sum(nil))
			wmu.Lock()
			want[s]++
			wmu.Unlock()
		}()
	}
	wg.Wait()
	for range channels {
		select {
		case s := <-sums:
			wmu.Lock()
			if want[s] == 0 {
				t.Error("a channel's bytes arrived changed")
			}
			want[s]--
			wmu.Unlock()
		case <-time.After(30 * time.Second):
			t.Fatal("not every channel's data arrived")
		}
	}
	// Each channel sends at least packets data messages plus its open and
	// EOF; window adjustments only add to that.
	sent := int64(channels * (packets + 2))
	if got := counted.writes.Load() - before; got >= sent {
		t.Errorf("%d writes for at least %d packets: none were coalesced", got, sent)
	} else {
		t.Logf("%d writes for at least %d packets", got, sent)
	}
}
