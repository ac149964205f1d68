package h1

import (
	"sync"
	"sync/atomic"
	"time"
)

// aLongTimeAgo is a deadline in the past, to end a blocked read at once.
var aLongTimeAgo = time.Unix(1, 0)

// watcher notices a visitor that goes away while its request is still
// being handled and its body is fully read (a long poll, a slow service):
// it reads one byte from the connection and cancels the requests' context
// on EOF or error, as net/http's background read does. Unlike net/http it
// starts only for a request still running WatchDelay after its body
// ended, so a request answered sooner costs a timer reset and stop, not a
// goroutine, an EAGAIN read and a deadline poke. A byte it reads (the
// next pipelined request) is handed to the next read (connReader).
type watcher struct {
	c        *conn
	mu       sync.Mutex
	timer    *time.Timer
	armed    bool
	running  bool
	done     chan struct{}
	aborting atomic.Bool
}

func (w *watcher) init(c *conn) {
	w.c = c
	w.timer = time.AfterFunc(time.Hour, w.run)
	w.timer.Stop()
}

// arm starts the delay after which the connection is watched; called by
// the connection's goroutine once nothing else reads the connection.
func (w *watcher) arm() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.armed {
		w.armed = true
		w.running = false
		w.timer.Reset(WatchDelay)
	}
}

func (w *watcher) run() {
	w.mu.Lock()
	if !w.armed || w.running {
		w.mu.Unlock()
		return
	}
	w.running = true
	done := make(chan struct{})
	w.done = done
	w.mu.Unlock()

	c := w.c
	n, err := c.rwc.Read(c.cr.byteBuf[:])
	if n == 1 {
		c.cr.hasByte = true
	} else if err != nil && !w.aborting.Load() {
		c.cancel(errVisitorGone)
	}
	close(done)
}

// stop ends the watch before the connection is read again: it cancels the
// pending delay or ends the watching read and waits for it.
func (w *watcher) stop() {
	w.mu.Lock()
	if !w.armed {
		w.mu.Unlock()
		return
	}
	w.armed = false
	w.timer.Stop()
	running, done := w.running, w.done
	w.running = false
	w.mu.Unlock()
	if !running {
		return
	}
	w.aborting.Store(true)
	_ = w.c.rwc.SetReadDeadline(aLongTimeAgo)
	<-done
	w.aborting.Store(false)
	_ = w.c.rwc.SetReadDeadline(time.Time{})
}
