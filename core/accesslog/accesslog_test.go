package accesslog

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
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
	old, _ := os.ReadFile(path + ".1")
	cur, _ := os.ReadFile(path)
	if !strings.Contains(string(old), `"one"`) || !strings.Contains(string(old), `"two"`) || strings.Contains(string(old), `"three"`) {
		t.Errorf("rotated file: %s", old)
	}
	if !strings.Contains(string(cur), `"three"`) || strings.Count(string(cur), "\n") != 1 {
		t.Errorf("new file: %s", cur)
	}
}
