package accesslog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRequestLine(t *testing.T) {
	for _, format := range []string{FormatJSON, FormatText} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			l, err := Open(Stderr, format, &buf)
			if err != nil {
				t.Fatal(err)
			}
			l.Request(&Request{
				Tunnel: "t1", Account: "ann", Type: "http", Host: "app.localhost",
				Method: "GET", Path: "/p?token=QUERYSECRET", Status: 401, In: 3, Out: 12,
				Total: 1500 * time.Microsecond, Visitor: netip.MustParseAddr("::ffff:203.0.113.7"),
				UserAgent: strings.Repeat("u", 1000), Verdict: RespondVerdict(401, false),
			})
			l.Flush()
			line := buf.String()
			if strings.Contains(line, "QUERYSECRET") {
				t.Errorf("line holds the query: %s", line)
			}
			if format == FormatText {
				want := "level=INFO msg=access kind=request status=401 visitor=203.0.113.7 verdict=\"respond 401\" tunnel=t1"
				if !strings.Contains(line, want) {
					t.Errorf("line %q does not hold %q", line, want)
				}
				return
			}
			var got map[string]any
			if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
				t.Fatalf("not JSON: %v: %s", err, line)
			}
			for k, want := range map[string]any{"msg": Message, "path": "/p", "status": 401.0, "visitor": "203.0.113.7", "verdict": "respond 401", "bytes_out": 12.0, "duration_ms": 1.5} {
				if got[k] != want {
					t.Errorf("%s = %v, want %v", k, got[k], want)
				}
			}
			if ua := got["user_agent"].(string); len(ua) > MaxUserAgent {
				t.Errorf("user agent of %d bytes, want at most %d", len(ua), MaxUserAgent)
			}
		})
	}
}

func TestOffIsNil(t *testing.T) {
	l, err := Open(Off, FormatJSON, nil)
	if err != nil || l != nil || l.Enabled() {
		t.Fatalf("Open(off) = %v, %v; want nil, nil", l, err)
	}
	l.Request(&Request{}) // a nil log logs nothing, without panicking
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
}

func TestBound(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"short", "short"},
		{"abcdefgh", "abc…"},
		{"ab\xffc", "ab\uFFFDc"},
		{"aaéaaaa", "aa…"}, // never half a character
	} {
		if got := Bound(c.in, 6); got != c.want || len(got) > 6 {
			t.Errorf("Bound(%q, 6) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestFileReopen: the file is created 0640 and appended to; after a
// rename (logrotate), Reopen makes the next lines go to a new file.
func TestFileReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	l, err := Open(path, FormatJSON, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Conn(&Conn{Tunnel: "one"})
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != FileMode {
		t.Fatalf("stat: %v, mode %v; want %v", err, fi.Mode().Perm(), os.FileMode(FileMode))
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	l.Conn(&Conn{Tunnel: "two"}) // still the renamed file
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	l.Conn(&Conn{Tunnel: "three"})
	l.Flush()
	old, _ := os.ReadFile(path + ".1")
	cur, _ := os.ReadFile(path)
	if !strings.Contains(string(old), `"one"`) || !strings.Contains(string(old), `"two"`) || strings.Contains(string(old), `"three"`) {
		t.Errorf("rotated file: %s", old)
	}
	if !strings.Contains(string(cur), `"three"`) || strings.Count(string(cur), "\n") != 1 {
		t.Errorf("new file: %s", cur)
	}
}

// TestBatchedLines: lines wait at most FlushAfter and reach the writer
// whole, in order, in one write per batch; Close writes what waits.
func TestBatchedLines(t *testing.T) {
	w := &countingWriter{}
	l, err := Open(Stderr, FormatText, w)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		l.Conn(&Conn{Tunnel: fmt.Sprint("t", i)})
	}
	if got := w.text(); got != "" {
		t.Fatalf("lines written at once (%q), want them batched", got)
	}
	deadline := time.Now().Add(10 * FlushAfter)
	for w.text() == "" && time.Now().Before(deadline) {
		time.Sleep(FlushAfter / 10)
	}
	lines := strings.Split(strings.TrimSuffix(w.text(), "\n"), "\n")
	if len(lines) != 50 || w.writes() != 1 {
		t.Fatalf("got %d lines in %d writes after %v, want 50 in 1", len(lines), w.writes(), 10*FlushAfter)
	}
	for i, line := range lines {
		if !strings.Contains(line, fmt.Sprintf("tunnel=t%d ", i)) && !strings.HasSuffix(line, fmt.Sprintf("tunnel=t%d", i)) {
			t.Fatalf("line %d is %q", i, line)
		}
	}
	l.Conn(&Conn{Tunnel: "last"})
	l.Close()
	if !strings.Contains(w.text(), "tunnel=last") {
		t.Fatal("Close did not write the waiting line")
	}
}

type countingWriter struct {
	mu sync.Mutex
	b  strings.Builder
	n  int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return c.b.Write(p)
}

func (c *countingWriter) text() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b.String()
}

func (c *countingWriter) writes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}
