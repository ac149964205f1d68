package e2e_test

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sshgress/sshgress/e2e"
)

// TestSmugglingHeadsNeverReachTheService: each head two HTTP parsers could
// frame differently is refused by the edge with its status page and
// closes the connection; the tunnel owner's service (a raw byte logger
// behind a real ssh -R) gets no byte of it, on the plain and the TLS port.
// A clean request on the same tunnel afterwards still arrives.
func TestSmugglingHeadsNeverReachTheService(t *testing.T) {
	b := newRawBackend(t)
	edge := newEdge(t, nil)
	key := e2e.NewKey(t, t.TempDir(), "id")
	s := edge.RunSSH(t, key, "-R", "smug:80:localhost:"+b.Port, "-R", "smugs:443:localhost:"+b.Port, "v2@127.0.0.1", "http")
	s.URLs(t, 2)
	_, httpPort, _ := net.SplitHostPort(edge.HTTPAddr().String())
	roots := e2e.RootPool(t, edge.LocalCARoot())

	heads := []struct {
		name, head, status, says string
	}{
		{"CL and TE", "POST / HTTP/1.1\r\nHost: %h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "400", "both Content-Length and Transfer-Encoding"},
		{"duplicate CL", "POST / HTTP/1.1\r\nHost: %h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", "400", "more than one Content-Length"},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: %h\r\nX-A: a\r\n b\r\n\r\n", "400", "obs-fold"},
		{"bare LF", "GET / HTTP/1.1\nHost: %h\n\n", "400", "LF without CR"},
		{"invalid header name", "GET / HTTP/1.1\r\nHost: %h\r\nX A: b\r\n\r\n", "400", "invalid header name"},
		{"oversized head", "GET / HTTP/1.1\r\nHost: %h\r\nX-Big: " + strings.Repeat("b", 80<<10) + "\r\n\r\n", "431", "too large"},
	}
	dialers := []struct {
		name, host string
		dial       func() (net.Conn, error)
	}{
		{"plain", "smug.localhost:" + httpPort, func() (net.Conn, error) {
			return net.DialTimeout("tcp", edge.HTTPAddr().String(), 5*time.Second)
		}},
		{"tls", "smugs.localhost", func() (net.Conn, error) {
			return edge.DialTLS("smugs.localhost", &tls.Config{RootCAs: roots, NextProtos: []string{"http/1.1"}})
		}},
	}
	for _, d := range dialers {
		for _, h := range heads {
			t.Run(d.name+"/"+h.name, func(t *testing.T) {
				c, err := d.dial()
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(15 * time.Second))
				io.WriteString(c, strings.ReplaceAll(h.head, "%h", d.host))
				out, _ := io.ReadAll(c) // the edge closes after refusing
				if !strings.HasPrefix(string(out), "HTTP/1.1 "+h.status+" ") || !strings.Contains(string(out), h.says) {
					t.Fatalf("got %q, want %s saying %q", out, h.status, h.says)
				}
				if !strings.Contains(string(out), "ERR_SSHGRESS_MALFORMED_REQUEST") {
					t.Errorf("no stable error code in %q", out)
				}
			})
		}
	}
	if n := b.conns.Load(); n != 0 {
		t.Fatalf("the edge opened %d connection(s) to the service for refused requests", n)
	}
	select {
	case got := <-b.requests:
		t.Fatalf("the service got bytes of a refused request: %q", got)
	default:
	}
	c, err := net.DialTimeout("tcp", edge.HTTPAddr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	io.WriteString(c, "GET /clean HTTP/1.1\r\nHost: smug.localhost:"+httpPort+"\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("clean request: %d, want 200", resp.StatusCode)
	}
	if got := b.next(t); !strings.HasPrefix(got, "GET /clean HTTP/1.1\r\n") {
		t.Fatalf("the service got %q, want the clean request", got)
	}
}
