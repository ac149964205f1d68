package console

import (
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRequestLineAndSanitize(t *testing.T) {
	var out syncBuf
	c := New(&out, true, 0)
	c.Request("GET", "/a\x1b[31mred\x07", 200, 4100*time.Microsecond, netip.MustParseAddr("203.0.113.7"))
	c.Line("notice \x1b]0;title\x07")
	c.Close(time.Second)
	got := out.String()
	if strings.ContainsAny(got, "\x1b\x07") {
		t.Fatalf("control characters reached the terminal: %q", got)
	}
	for _, want := range []string{"GET  /a?[31mred?", "200  4.1ms  203.0.113.7\r\n", "notice ?]0;title?\r\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("output %q lacks %q", got, want)
		}
	}
}

// blocked is a terminal that never reads.
type blocked struct{ release chan struct{} }

func (b blocked) Write(p []byte) (int, error) { <-b.release; return len(p), nil }

func TestSlowTerminalNeverBlocksTheDataPath(t *testing.T) {
	b := blocked{release: make(chan struct{})}
	c := New(b, false, 10)
	done := make(chan struct{})
	go func() {
		for range 10000 {
			c.Request("GET", "/", 200, time.Millisecond, netip.Addr{})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Request blocked on a terminal that does not read")
	}
	close(b.release)
	c.Close(time.Second)
}

func TestDroppedLinesAreCounted(t *testing.T) {
	var out syncBuf
	c := New(&out, false, 3)
	c.Lines("1", "2", "3", "4", "5")
	c.Close(time.Second)
	if got := out.String(); !strings.Contains(got, "(2 lines not shown") {
		t.Fatalf("output %q does not count the 2 dropped lines", got)
	}
}

func TestNilConsole(t *testing.T) {
	var c *Console
	c.Line("x")
	c.Lines("a", "b")
	c.Request("GET", "/", 200, 0, netip.Addr{})
	c.Close(time.Millisecond)
}

func TestCloseIdempotent(t *testing.T) {
	var out syncBuf
	c := New(&out, false, 0)
	c.Close(time.Second)
	c.Close(time.Second)
	c.Line("after close")
	if strings.Contains(out.String(), "after close") {
		t.Fatal("a line written after Close appeared")
	}
}
