// Package console writes what a tunnel's owner sees in their SSH session:
// the banner with the public URLs, one line per visitor request, notices
// and errors.
//
// Writes to an SSH channel can block when the client stops reading, and the
// data path must never wait on a terminal. Lines are therefore queued into
// a bounded buffer and written in batches by a writer goroutine that runs
// only while lines are waiting, so an idle tunnel holds neither a goroutine
// nor a buffer for its console; when the queue is full lines are dropped
// and counted, and the count is reported once the client reads again.
package console

import (
	"io"
	"net/netip"
	"strconv"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Defaults for New.
const (
	// DefaultQueue is how many lines may wait for the client before lines
	// are dropped.
	DefaultQueue = 1024
	// flushEvery bounds how long a request line waits to be batched.
	flushEvery = 50 * time.Millisecond
	// RequestLinesPerSecond caps the request lines written each second;
	// past it, requests are counted and one summary line per second
	// replaces theirs. Nobody reads 15,000 lines a second, and writing,
	// sending and rendering them costs the edge, the ssh client and the
	// owner's terminal CPU the tunnel's traffic needs.
	RequestLinesPerSecond = 50
	// requestWindow is the period RequestLinesPerSecond counts in.
	requestWindow = time.Second
)

// Console is one session's output. A nil *Console discards everything, so
// tunnels opened with `ssh -N` (no session) need no special case. Methods
// are safe for concurrent use.
type Console struct {
	out  io.Writer
	crlf bool

	mu      sync.Mutex
	queue   []byte // pending bytes, bounded by max lines
	lines   int
	dropped int
	closed  bool
	armed   bool // a flush is scheduled for batched request lines
	// The request lines of the current window: shown so far, and the
	// requests not shown, by status class (0 for no status, then 1xx–5xx).
	winStart time.Time
	shown    int
	hidden   [6]int
	writing  bool          // the writer goroutine is running
	done     chan struct{} // closed once closed and the writer is finished
	max      int
}

// New returns a console writing to out (the session channel's stdout).
// crlf makes lines end in "\r\n", as a terminal in raw mode (a pty
// session) needs. queue bounds the lines waiting; 0 means DefaultQueue.
func New(out io.Writer, crlf bool, queue int) *Console {
	if queue <= 0 {
		queue = DefaultQueue
	}
	return &Console{out: out, crlf: crlf, done: make(chan struct{}), max: queue}
}

// Line queues one line of text. Control characters are replaced so a
// visitor can never write escape sequences into the owner's terminal.
func (c *Console) Line(s string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.appendLocked(s)
	c.mu.Unlock()
	c.signal()
}

// Lines queues several lines to be written together (a banner).
func (c *Console) Lines(ss ...string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	for _, s := range ss {
		c.appendLocked(s)
	}
	c.mu.Unlock()
	c.signal()
}

// Request queues the log line for one visitor request. It does not wake the
// writer: request lines are batched and written every flushEvery.
func (c *Console) Request(method, path string, status int, d time.Duration, client netip.Addr) {
	if c == nil {
		return
	}
	now := time.Now()
	c.mu.Lock()
	if now.Sub(c.winStart) >= requestWindow && c.hiddenTotalLocked() == 0 {
		c.winStart, c.shown = now, 0
	}
	if c.shown >= RequestLinesPerSecond {
		first := c.hiddenTotalLocked() == 0
		class := status / 100
		if class < 0 || class >= len(c.hidden) {
			class = 0
		}
		c.hidden[class]++
		wait := requestWindow - now.Sub(c.winStart)
		c.mu.Unlock()
		if first {
			time.AfterFunc(max(wait, 0), c.endWindow)
		}
		return
	}
	c.shown++
	c.mu.Unlock()

	var b [256]byte
	line := b[:0]
	line = appendPadded(line, sanitize(method, 8), 4)
	line = appendPadded(line, sanitize(path, 100), 22)
	if status == 0 {
		line = append(line, "---"...)
	} else {
		line = strconv.AppendInt(line, int64(status), 10)
	}
	line = append(line, "  "...)
	line = appendDuration(line, d)
	line = append(line, "  "...)
	if client.IsValid() {
		line = client.Unmap().AppendTo(line)
	}
	c.mu.Lock()
	c.appendBytesLocked(line)
	arm := !c.armed
	c.armed = true
	c.mu.Unlock()
	if arm {
		// One timer per batch, none while the tunnel is idle.
		time.AfterFunc(flushEvery, c.signal)
	}
}

// endWindow ends a window in which requests went unshown: their summary
// line is queued and written, and a new window starts.
func (c *Console) endWindow() {
	c.mu.Lock()
	c.summaryLocked()
	c.winStart, c.shown = time.Now(), 0
	c.startLocked()
	c.mu.Unlock()
}

// summaryLocked queues the line counting the requests not shown, if any,
// and resets the count.
func (c *Console) summaryLocked() {
	n := c.hiddenTotalLocked()
	if n == 0 {
		return
	}
	line := make([]byte, 0, 128)
	line = append(line, "("...)
	line = strconv.AppendInt(line, int64(n), 10)
	line = append(line, " more requests not shown, over "+strconv.Itoa(RequestLinesPerSecond)+" lines a second:"...)
	for class, k := range c.hidden {
		if k == 0 {
			continue
		}
		line = append(line, ' ')
		if class == 0 {
			line = append(line, "---"...)
		} else {
			line = strconv.AppendInt(line, int64(class), 10)
			line = append(line, "xx"...)
		}
		line = append(line, ' ')
		line = strconv.AppendInt(line, int64(k), 10)
	}
	line = append(line, ')')
	c.hidden = [6]int{}
	c.appendBytesLocked(line)
}

func (c *Console) hiddenTotalLocked() int {
	n := 0
	for _, k := range c.hidden {
		n += k
	}
	return n
}

// Close flushes what is queued, waiting at most timeout for a slow client,
// and stops the writer. Close is idempotent.
func (c *Console) Close(timeout time.Duration) {
	if c == nil {
		return
	}
	c.mu.Lock()
	if !c.closed {
		c.summaryLocked()
		c.closed = true
		if !c.startLocked() {
			// Nothing is queued and no writer runs: nothing to wait for.
			close(c.done)
		}
	}
	c.mu.Unlock()
	select {
	case <-c.done:
	case <-time.After(timeout):
	}
}

// signal has what is queued written.
func (c *Console) signal() {
	c.mu.Lock()
	c.startLocked()
	c.mu.Unlock()
}

// startLocked starts the writer if something is queued and none runs. It
// reports whether a writer is running.
func (c *Console) startLocked() bool {
	if c.writing {
		return true
	}
	if len(c.queue) == 0 && c.dropped == 0 {
		return false
	}
	c.writing = true
	go c.run()
	return true
}

func (c *Console) appendLocked(s string) {
	if c.closed {
		return
	}
	if c.lines >= c.max {
		c.dropped++
		return
	}
	c.queue = append(c.queue, sanitize(s, 1000)...)
	c.endLineLocked()
}

func (c *Console) appendBytesLocked(b []byte) {
	if c.closed {
		return
	}
	if c.lines >= c.max {
		c.dropped++
		return
	}
	c.queue = append(c.queue, b...)
	c.endLineLocked()
}

func (c *Console) endLineLocked() {
	if c.crlf {
		c.queue = append(c.queue, '\r')
	}
	c.queue = append(c.queue, '\n')
	c.lines++
}

// run writes batches until the queue is empty, then ends; once the console
// is closed, its end closes done.
func (c *Console) run() {
	var buf []byte
	for {
		c.mu.Lock()
		if len(c.queue) == 0 && c.dropped == 0 {
			c.writing = false
			c.queue = nil // an idle console keeps no buffer
			if c.closed {
				close(c.done)
			}
			c.mu.Unlock()
			return
		}
		c.armed = false
		buf, c.queue = c.queue, buf[:0]
		c.lines = 0
		dropped := c.dropped
		c.dropped = 0
		c.mu.Unlock()
		if dropped > 0 {
			note := "(" + strconv.Itoa(dropped) + " lines not shown: the terminal was not reading fast enough)"
			if c.crlf {
				note += "\r"
			}
			buf = append(buf, note+"\n"...)
		}
		if _, err := c.out.Write(buf); err != nil {
			// The session is gone; keep draining so producers never block.
			c.out = io.Discard
		}
	}
}

// sanitize makes s safe for a terminal: control characters (C0, DEL, C1),
// Unicode format characters (category Cf: the bidi overrides, embeddings
// and isolates such as U+202E that make "/txt.exe" read as "/exe.txt",
// marks and zero-width characters), the line and paragraph separators and
// invalid UTF-8 become '?', and s is cut to max runes.
func sanitize(s string, max int) string {
	clean := len(s) <= max
	if clean {
		for i := 0; i < len(s); i++ {
			if b := s[i]; b < 0x20 || b >= 0x7f {
				clean = false
				break
			}
		}
	}
	if clean {
		return s
	}
	out := make([]rune, 0, min(len(s), max))
	for _, r := range s {
		if len(out) == max {
			out = append(out, '…')
			break
		}
		if unsafeRune(r) {
			r = '?'
		}
		out = append(out, r)
	}
	return string(out)
}

// unsafeRune reports whether sanitize replaces r.
func unsafeRune(r rune) bool {
	switch {
	case r == utf8.RuneError, r < 0x20, r >= 0x7f && r < 0xa0:
		return true
	case r < 0x80:
		return false
	}
	return unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp)
}

func appendPadded(b []byte, s string, width int) []byte {
	b = append(b, s...)
	for n := utf8.RuneCountInString(s); n < width; n++ {
		b = append(b, ' ')
	}
	return append(b, ' ')
}

func appendDuration(b []byte, d time.Duration) []byte {
	switch {
	case d < time.Millisecond:
		b = strconv.AppendInt(b, int64(d/time.Microsecond), 10)
		return append(b, "µs"...)
	case d < time.Second:
		b = strconv.AppendFloat(b, float64(d)/float64(time.Millisecond), 'f', 1, 64)
		return append(b, "ms"...)
	default:
		b = strconv.AppendFloat(b, d.Seconds(), 'f', 2, 64)
		return append(b, 's')
	}
}
