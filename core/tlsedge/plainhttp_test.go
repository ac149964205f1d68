package tlsedge

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/certs"
)

func TestLooksLikeHTTP(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"GET / HTTP/1.1\r\n", true},
		{"POST /", true},
		{"HEAD ", true},
		{"OPTIO", true},
		{"DELET", true},
		{"PRI * HTTP/2.0", true},
		{"\x16\x03\x01\x02\x00", false}, // a TLS handshake record
		{"SSH-2.0-OpenSSH", false},
		{"GETX /", false},
		{"get / HTTP/1.1", false},
		{"GE", false},
	} {
		if got := LooksLikeHTTP([]byte(tc.in)); got != tc.want {
			t.Errorf("LooksLikeHTTP(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

type noNames struct{}

func (noNames) Serves(string) bool       { return false }
func (noNames) IsSystemHost(string) bool { return false }

// servedEdge runs an Edge on a loopback listener.
func servedEdge(t *testing.T) string {
	t.Helper()
	m, err := certs.New(certs.Options{CADir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	e := New(Options{BaseDomain: "localhost", Certs: m, HTTP: noNames{}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go e.Serve(ln)
	t.Cleanup(e.Close)
	return ln.Addr().String()
}

// TestPlainHTTPOnTLSPort: a plain HTTP request to the TLS port gets a
// plain-text 400 that says to use https, then the connection ends; other
// bytes that are not TLS are still closed without an answer.
func TestPlainHTTPOnTLSPort(t *testing.T) {
	addr := servedEdge(t)
	dial := func(t *testing.T, send string) net.Conn {
		t.Helper()
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, send)
		return c
	}
	for _, req := range []string{
		"GET / HTTP/1.1\r\nHost: app.localhost:8443\r\n\r\n",
		"POST /form HTTP/1.1\r\nHost: app.localhost\r\nContent-Length: 5\r\n\r\nhello",
		"GET / HTTP/1.0\r\n\r\n",
	} {
		t.Run(strings.Fields(req)[0]+" "+strings.Fields(req)[2], func(t *testing.T) {
			c := dial(t, req)
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("read answer: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 400 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
				t.Fatalf("got %d %s, want a plain-text 400", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			if !strings.Contains(string(body), "https://") || !strings.Contains(string(body), "HTTPS") {
				t.Errorf("body %q does not say to use https", body)
			}
			if n, err := io.Copy(io.Discard, br); n != 0 || err != nil {
				t.Errorf("after the answer: %d more bytes, %v; want the connection closed", n, err)
			}
		})
	}
	t.Run("other bytes are closed silently", func(t *testing.T) {
		c := dial(t, "SSH-2.0-OpenSSH_9.6\r\n")
		if b, _ := io.ReadAll(c); len(b) != 0 {
			t.Errorf("non-TLS, non-HTTP bytes got an answer %q", b)
		}
	})
}
