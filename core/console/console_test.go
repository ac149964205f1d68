package console

import (
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
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

// TestFormatCharactersNeutralised: a path with a bidi override (U+202E)
// or another format or separator character cannot reorder or hide text in
// the owner's terminal.
func TestFormatCharactersNeutralised(t *testing.T) {
	for _, tc := range []struct {
		name, path, want string
	}{
		{"right-to-left override", "/invoice\u202Etxt.exe", "/invoice?txt.exe"},
		{"left-to-right and pop", "/a\u202Ab\u202Cc", "/a?b?c"},
		{"isolates", "/\u2066x\u2067y\u2068z\u2069", "/?x?y?z?"},
		{"marks", "/\u200Ex\u200F\u061C", "/?x??"},
		{"zero width and BOM", "/ad\u200Bmin\uFEFF", "/ad?min?"},
		{"line and paragraph separators", "/a\u2028b\u2029", "/a?b?"},
		{"ordinary non-ASCII stays", "/café/日本/Ω", "/café/日本/Ω"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out syncBuf
			c := New(&out, false, 0)
			c.Request("GET", tc.path, 200, time.Millisecond, netip.MustParseAddr("203.0.113.7"))
			c.Line("notice " + tc.path)
			c.Close(time.Second)
			got := out.String()
			if strings.Count(got, tc.want) != 2 {
				t.Errorf("output %q does not show %q in both lines", got, tc.want)
			}
			for _, r := range got {
				if unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) {
					t.Errorf("output %q carries %U", got, r)
				}
			}
		})
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

// TestIdleConsoleHoldsNoWriter checks the writer runs only while lines
// wait, and that lines from separate bursts all arrive, in order.
func TestIdleConsoleHoldsNoWriter(t *testing.T) {
	var out syncBuf
	c := New(&out, false, 0)
	var want strings.Builder
	for burst := range 5 {
		lines := []string{strconv.Itoa(burst) + "a", strconv.Itoa(burst) + "b"}
		c.Lines(lines...)
		want.WriteString(lines[0] + "\n" + lines[1] + "\n")
		waitIdle(t, c)
		if got := out.String(); got != want.String() {
			t.Fatalf("after burst %d: got %q, want %q", burst, got, want.String())
		}
	}
	c.Request("GET", "/", 200, time.Millisecond, netip.Addr{})
	waitIdle(t, c) // the batch timer flushes it
	if got := out.String(); !strings.Contains(got, "GET  /") {
		t.Fatalf("request line not written: %q", got)
	}
	start := time.Now()
	c.Close(5 * time.Second)
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close of an idle console took %s, want no wait", d)
	}
}

// waitIdle waits until nothing is queued and no writer goroutine runs.
func waitIdle(t *testing.T, c *Console) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; {
		c.mu.Lock()
		idle := !c.writing && len(c.queue) == 0 && !c.armed
		c.mu.Unlock()
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		if idle && !strings.Contains(string(buf), "console.(*Console).run(") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("console writer still running")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestRequestLinesCapped checks that past RequestLinesPerSecond requests
// in a second are counted, by status class, in one summary line written
// when the second ends, and that the next second shows lines again.
func TestRequestLinesCapped(t *testing.T) {
	var out syncBuf
	c := New(&out, false, 0)
	extra := 440
	for i := range RequestLinesPerSecond + extra + 10 {
		status := 200
		if i >= RequestLinesPerSecond+extra {
			status = 503
		}
		c.Request("GET", "/n"+strconv.Itoa(i), status, time.Millisecond, netip.Addr{})
	}
	want := "(450 more requests not shown, over " + strconv.Itoa(RequestLinesPerSecond) + " lines a second: 2xx 440 5xx 10)"
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no summary line %q after the second ended; output:\n%s", want, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	got := out.String()
	if n := strings.Count(got, "GET  /n"); n != RequestLinesPerSecond {
		t.Errorf("%d request lines shown in the first second, want %d", n, RequestLinesPerSecond)
	}
	if strings.Contains(got, "/n"+strconv.Itoa(RequestLinesPerSecond)+" ") {
		t.Errorf("the first request over the cap was shown")
	}
	c.Request("GET", "/next-second", 200, time.Millisecond, netip.Addr{})
	c.Close(time.Second)
	if got := out.String(); !strings.HasSuffix(got, "\n") || !strings.Contains(got[strings.Index(got, want):], "GET  /next-second") {
		t.Errorf("the request after the summary was not shown after it:\n%s", got)
	}
}

// TestCloseWritesTheSummary checks that requests not shown are counted even
// when the session ends before their second does.
func TestCloseWritesTheSummary(t *testing.T) {
	var out syncBuf
	c := New(&out, true, 0)
	for range RequestLinesPerSecond + 3 {
		c.Request("POST", "/", 0, time.Millisecond, netip.Addr{})
	}
	c.Close(time.Second)
	if want := "(3 more requests not shown, over " + strconv.Itoa(RequestLinesPerSecond) + " lines a second: --- 3)\r\n"; !strings.HasSuffix(out.String(), want) {
		t.Fatalf("output does not end with %q:\n%q", want, out.String())
	}
}
