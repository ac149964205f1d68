package accesslog

import (
	"io"
	"sync"
	"time"
)

// Batching: a line per request written with its own write(2) cost the
// edge a system call per request (a tenth of its CPU per request at 10k
// requests a second, docs/performance.md), so lines are gathered and
// written together, as nginx's access_log buffer= does. A line waits at
// most FlushAfter; a batch is written once it reaches BatchBytes; Close,
// Reopen and Flush write what is waiting.
const (
	// FlushAfter bounds how long an access line waits to be written.
	FlushAfter = 100 * time.Millisecond
	// BatchBytes is the size at which waiting lines are written at once.
	BatchBytes = 32 << 10
)

// batch is an io.Writer that gathers whole writes (slog writes one line
// per call) and passes them to w together.
type batch struct {
	mu    sync.Mutex
	w     io.Writer
	buf   []byte
	timer *time.Timer
	err   error // the last write error, reported by the next Write
}

func newBatch(w io.Writer) *batch {
	b := &batch{w: w, buf: make([]byte, 0, BatchBytes)}
	b.timer = time.AfterFunc(time.Hour, func() { _ = b.Flush() })
	b.timer.Stop()
	return b
}

func (b *batch) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.err; err != nil {
		b.err = nil
		return 0, err
	}
	if len(b.buf) == 0 {
		b.timer.Reset(FlushAfter)
	}
	b.buf = append(b.buf, p...)
	if len(b.buf) >= BatchBytes {
		b.flushLocked()
	}
	return len(p), nil
}

// Flush writes what is waiting.
func (b *batch) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
	err := b.err
	b.err = nil
	return err
}

func (b *batch) flushLocked() {
	b.timer.Stop()
	if len(b.buf) == 0 {
		return
	}
	if _, err := b.w.Write(b.buf); err != nil {
		b.err = err
	}
	if cap(b.buf) > 4*BatchBytes {
		b.buf = make([]byte, 0, BatchBytes) // after a burst of long lines
	} else {
		b.buf = b.buf[:0]
	}
}
