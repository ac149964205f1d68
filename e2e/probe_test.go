package e2e_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/sshgress/sshgress/e2e"
)

// TestProbeFindingsUsability covers what an outside probe of a running
// edge found unclear: the page for a request without a host, the start-up
// hint's curl command, plain HTTP sent to the TLS port, and a bidi
// override in a path reaching the owner's terminal.
func TestProbeFindingsUsability(t *testing.T) {
	curl := e2e.RequireTool(t, "curl", "curl")
	_, port := backend(t)
	edge := newEdge(t, nil)
	_, tlsPort, _ := net.SplitHostPort(edge.HTTPSAddr().String())

	t.Run("HTTP/1.0 without Host", func(t *testing.T) {
		c, err := net.DialTimeout("tcp", edge.HTTPAddr().String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "GET / HTTP/1.0\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 400 || !strings.Contains(string(b), "names no host") || !strings.Contains(string(b), "Host header") {
			t.Fatalf("got %d %q, want 400 saying the request names no host", resp.StatusCode, b)
		}
		if strings.Contains(string(b), "host name this address") {
			t.Errorf("page %q still reads \"the host name this address\"", b)
		}
	})

	t.Run("start-up hint names the TLS port", func(t *testing.T) {
		if want := " https://NAME:" + tlsPort + "/ "; !strings.Contains(edge.Logs.String(), want) {
			t.Fatalf("start-up log lacks %q:\n%s", want, edge.Logs)
		}
	})

	t.Run("plain HTTP to the TLS port", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, curl, "-sS", "-i", "--max-time", "10", "http://127.0.0.1:"+tlsPort+"/").CombinedOutput()
		if err != nil {
			t.Fatalf("curl: %v\n%s", err, out)
		}
		if !strings.HasPrefix(string(out), "HTTP/1.1 400 ") || !strings.Contains(string(out), "https://") {
			t.Fatalf("curl got %q, want a 400 saying to use https", out)
		}
	})

	t.Run("bidi override in a path", func(t *testing.T) {
		key := e2e.NewKey(t, t.TempDir(), "id")
		s := edge.RunSSH(t, key, "-R", "bidi:80:localhost:"+port, "v2@127.0.0.1", "http")
		url := s.URL(t)
		if st, _ := edge.Get(t, url+"/invoice%E2%80%AEtxt.exe"); st != 200 {
			t.Fatalf("GET status %d", st)
		}
		line := waitConsoleLine(t, s, "/invoice?txt.exe")
		for _, r := range s.Stdout.String() {
			if unicode.Is(unicode.Cf, r) {
				t.Fatalf("console carries %U: %q", r, line)
			}
		}
	})
}
