// sshgress patch: packets written by several goroutines at once leave in
// one write(2).

package ssh

import (
	"io"
	"sync"
	"time"
)

// coalesceMax bounds the encrypted bytes waiting behind a write in
// progress; a writer that finds more waits until they have left.
const coalesceMax = 256 << 10

// coalesceSpareMax is the largest buffer kept for reuse between writes.
const coalesceSpareMax = 1 << 20

// closeDrain bounds how long Close waits for bytes already accepted to
// leave before it closes the connection under them.
const closeDrain = 250 * time.Millisecond

// writeCoalescer sits between the transport's bufio.Writer and the
// connection. Upstream, every packet is written with its own write(2) while
// the handshake transport's lock is held, so the channels of a busy
// connection queue on that lock, one system call each. Here a packet
// written from handshakeTransport.writePacket is only appended while the
// lock is held (deferred); the writer writes it after releasing the lock,
// unless a write is already in progress, in which case that write's owner
// takes it along with whatever else has arrived, in one call. OpenSSH does
// the same by writing what its loop gathered from every channel at once.
//
// Every other write (key exchange, disconnect messages) returns only once
// its bytes have left, as upstream. Bytes leave in the order they were
// appended, which is the order the packets were encrypted in.
type writeCoalescer struct {
	w io.WriteCloser

	mu        sync.Mutex
	left      *sync.Cond // signalled when a write ends
	pending   []byte     // appended, not yet handed to w
	spare     []byte
	flushing  bool   // a goroutine is writing; it takes pending along
	deferring bool   // Write only appends (the handshake lock is held)
	appended  uint64 // bytes ever appended
	written   uint64 // bytes ever written to w
	err       error
	closing   chan struct{} // closed by the flusher when a Close waits
}

func newWriteCoalescer(w io.WriteCloser) *writeCoalescer {
	c := &writeCoalescer{w: w}
	c.left = sync.NewCond(&c.mu)
	return c
}

// setDeferred makes Write append only (true) or write through (false).
func (c *writeCoalescer) setDeferred(d bool) {
	c.mu.Lock()
	c.deferring = d
	c.mu.Unlock()
}

// Write appends p. Deferred, it returns at once and the caller must call
// flush; otherwise it returns once p has been written.
func (c *writeCoalescer) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.err == nil && c.flushing && len(c.pending) >= coalesceMax {
		c.left.Wait()
	}
	if c.err != nil {
		return 0, c.err
	}
	c.pending = append(c.pending, p...)
	c.appended += uint64(len(p))
	if c.deferring {
		return len(p), nil
	}
	if err := c.waitWritten(c.appended); err != nil {
		return 0, err
	}
	return len(p), nil
}

// flush writes what deferred Writes appended, unless a write in progress
// will take it along. It does not wait for that write.
func (c *writeCoalescer) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.flushing && len(c.pending) > 0 && c.err == nil {
		c.writeLocked()
	}
	return c.err
}

// waitWritten returns once the first upto bytes ever appended have been
// written, writing them itself if nobody is. c.mu is held.
func (c *writeCoalescer) waitWritten(upto uint64) error {
	for c.err == nil && c.written < upto {
		if c.flushing {
			c.left.Wait()
			continue
		}
		c.writeLocked()
	}
	return c.err
}

// writeLocked writes pending, and what arrives meanwhile, until nothing
// is pending. c.mu is held, and released during each write.
func (c *writeCoalescer) writeLocked() {
	c.flushing = true
	for len(c.pending) > 0 && c.err == nil {
		buf := c.pending
		c.pending = c.spare[:0]
		c.spare = nil
		c.mu.Unlock()
		_, err := c.w.Write(buf)
		c.mu.Lock()
		if err != nil {
			c.err = err
		}
		c.written += uint64(len(buf))
		if cap(buf) <= coalesceSpareMax {
			c.spare = buf[:0]
		}
		c.left.Broadcast()
	}
	c.flushing = false
	if c.closing != nil {
		close(c.closing)
		c.closing = nil
	}
	c.left.Broadcast()
}

// Close closes the connection once the bytes accepted so far have left,
// waiting at most closeDrain for them (a peer that reads nothing must not
// hold Close). Bytes appended by a writer that has not flushed yet are
// written by a goroutine of Close's own, which closing the connection
// ends.
func (c *writeCoalescer) Close() error {
	c.mu.Lock()
	var wait chan struct{}
	if c.flushing || (len(c.pending) > 0 && c.err == nil) {
		if c.closing == nil {
			c.closing = make(chan struct{})
		}
		wait = c.closing
		if !c.flushing {
			go c.drain()
		}
	}
	c.mu.Unlock()
	if wait != nil {
		t := time.NewTimer(closeDrain)
		select {
		case <-wait:
		case <-t.C:
		}
		t.Stop()
	}
	return c.w.Close()
}

// drain writes what is pending for Close, unless a write in progress does
// (its end closes c.closing either way).
func (c *writeCoalescer) drain() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.flushing && c.closing != nil {
		c.writeLocked()
	}
}
