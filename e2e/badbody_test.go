package e2e_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/config"
	"github.com/sshgress/sshgress/e2e"
)

// TestBrokenRequestBodyIsTheVisitors: a request body the visitor framed
// wrongly is the visitor's 400 (a stalled one its 408), with a page saying
// so and the same status in the owner's console, never a 502 that blames
// the tunnel's service; one cut short by the visitor's connection ending
// gets the 400 page and shows as a visitor that went away. The service
// never gets a complete request.
func TestBrokenRequestBodyIsTheVisitors(t *testing.T) {
	var complete atomic.Int64
	port := serveBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return // a cut request: nothing to answer
		}
		complete.Add(1)
		io.WriteString(w, "got "+string(b))
	}))
	edge := newEdge(t, func(c *config.Config) { c.HTTP.BodyIdleTimeout = 300 * time.Millisecond })
	key := e2e.NewKey(t, t.TempDir(), "id")
	s := edge.RunSSH(t, key, "-R", "bodies:80:localhost:"+port, "v2@127.0.0.1", "http")
	host := e2e.Host(s.URL(t))

	const (
		chunked   = "Transfer-Encoding: chunked"
		badBody   = "ERR_SSHGRESS_BAD_BODY"
		malformed = "malformed"
	)
	// send writes a POST with the given framing header and body bytes; a
	// visitor that cuts its body short half-closes after it.
	send := func(t *testing.T, path, framing, body string, halfClose bool) (*http.Response, string) {
		t.Helper()
		c, err := net.DialTimeout("tcp", edge.HTTPAddr().String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		io.WriteString(c, "POST "+path+" HTTP/1.1\r\nHost: "+host+"\r\n"+framing+"\r\n\r\n"+body)
		if halfClose {
			c.(*net.TCPConn).CloseWrite()
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("read response: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}

	t.Run("well-formed body goes through", func(t *testing.T) {
		resp, body := send(t, "/good", chunked, "5\r\nhello\r\n0\r\n\r\n", false)
		if resp.StatusCode != 200 || body != "got hello" {
			t.Fatalf("good body: %d %q, want 200 %q", resp.StatusCode, body, "got hello")
		}
	})
	before := complete.Load()
	for _, tc := range []struct {
		name, path, framing, body string
		halfClose                 bool
		status                    int
		code, says                string
		// console is the status the owner sees: the visitor's status, or
		// "---" for a visitor whose connection ended.
		console string
	}{
		{"bad chunk size", "/bad-size", chunked, "zz\r\nhello\r\n0\r\n\r\n", false, 400, badBody, malformed, "400"},
		{"chunk size after good data", "/bad-second-size", chunked, "5\r\nhello\r\nx5\r\nhello\r\n0\r\n\r\n", false, 400, badBody, malformed, "400"},
		{"LF-only chunk lines", "/lf-only", chunked, "5\nhello\n0\n\n", false, 400, badBody, malformed, "400"},
		{"chunk size overflow", "/overflow", chunked, "fffffffffffffffffff\r\nhello\r\n0\r\n\r\n", false, 400, badBody, malformed, "400"},
		{"data longer than its size", "/overlong", chunked, "3\r\nhello\r\n0\r\n\r\n", false, 400, badBody, malformed, "400"},
		{"body shorter than Content-Length", "/short", "Content-Length: 100", "only ten b", true, 400, badBody, malformed, "---"},
		{"body stalls", "/stalled", "Content-Length: 100", "only ten b", false, 408, "ERR_SSHGRESS_BODY_TIMEOUT", "stopped arriving", "408"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := send(t, tc.path, tc.framing, tc.body, tc.halfClose)
			if resp.StatusCode != tc.status || resp.Header.Get("X-Sshgress-Error") != tc.code {
				t.Fatalf("%s: %d %s, want %d %s; body %q", tc.name, resp.StatusCode, resp.Header.Get("X-Sshgress-Error"), tc.status, tc.code, body)
			}
			if !strings.Contains(body, "request") || !strings.Contains(body, tc.says) {
				t.Errorf("page %q does not say the request body %s", body, tc.says)
			}
			if strings.Contains(body, "did not answer") {
				t.Errorf("page %q blames the tunnel's service", body)
			}
			line := waitConsoleLine(t, s, tc.path)
			if f := strings.Fields(line); len(f) < 3 || f[2] != tc.console {
				t.Errorf("console line %q, want status %s", line, tc.console)
			}
		})
	}
	if n := complete.Load() - before; n != 0 {
		t.Errorf("the service got %d complete requests from broken bodies, want 0", n)
	}
}

// waitConsoleLine waits (bounded) for the owner's console line of a
// request to path and returns it.
func waitConsoleLine(t *testing.T, s *e2e.SSH, path string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, l := range s.Stdout.Lines() {
			if f := strings.Fields(l); len(f) >= 2 && f[1] == path {
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no console line for %s:\n%s", path, s.Stdout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
