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

	"github.com/pires/go-proxyproto"

	"github.com/sshgress/sshgress/core/config"
	"github.com/sshgress/sshgress/e2e"
)

// proxiedGet dials addr, writes a PROXY header of version (1 or 2) with
// source src when src is not "", optionally speaks TLS for the tunnel's
// name, and sends one GET for host. It returns the response, or nil when
// the edge closed the connection without one.
func proxiedGet(t *testing.T, addr string, version byte, src, host string, tlsConf *tls.Config) *http.Response {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if src != "" {
		from, err := net.ResolveTCPAddr("tcp", src)
		if err != nil {
			t.Fatal(err)
		}
		h := proxyproto.HeaderProxyFromAddrs(version, from, c.RemoteAddr())
		if _, err := h.WriteTo(c); err != nil {
			t.Fatalf("write PROXY header: %v", err)
		}
	}
	var conn net.Conn = c
	if tlsConf != nil {
		tc := tls.Client(c, tlsConf)
		if err := tc.Handshake(); err != nil {
			return nil // refused before TLS: the edge closed the connection
		}
		conn = tc
	}
	if _, err := io.WriteString(conn, "GET /via-proxy HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n"); err != nil {
		return nil
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return nil
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// proxyEdge starts an edge trusting PROXY headers from trusted, with a
// JSON access log, and opens an http (-R 80) and an https (-R 443)
// tunnel to a backend that echoes X-Forwarded-For.
func proxyEdge(t *testing.T, trusted ...string) (edge *e2e.Edge, s *e2e.SSH, httpHost, httpsHost string, roots *tls.Config) {
	t.Helper()
	e2e.RequireSSH(t)
	_, port := backend(t)
	edge = e2e.StartEdge(t, e2e.EdgeOptions{Configure: func(c *config.Config) {
		c.Log.Format = "json"
		c.ProxyProtocol.Trusted = trusted
	}})
	key := e2e.NewKey(t, t.TempDir(), "ann")
	s = edge.RunSSH(t, key, "-R", "80:localhost:"+port, "-R", "443:localhost:"+port, "v2@127.0.0.1", "http")
	for _, u := range s.URLs(t, 2) {
		h, _, _ := strings.Cut(e2e.Host(u), ":")
		if strings.HasPrefix(u, "https://") {
			httpsHost = h
		} else {
			httpHost = h
		}
	}
	if httpHost == "" || httpsHost == "" {
		t.Fatalf("want an http and an https URL:\n%s", s.Stdout)
	}
	return edge, s, httpHost, httpsHost, &tls.Config{ServerName: httpsHost, RootCAs: e2e.RootPool(t, edge.LocalCARoot())}
}

// TestProxyProtocol sends real PROXY v1 (http port) and v2 (https port)
// headers over raw TCP from loopback. When loopback is trusted, the
// header's source is the visitor: the user's service sees it in
// X-Forwarded-For, the session's request line and the access log name
// it, and a connection without a header is refused. When loopback is not
// trusted, a connection with a header is refused (a visitor cannot claim
// another address) and one without is served as before.
func TestProxyProtocol(t *testing.T) {
	t.Run("trusted", func(t *testing.T) {
		edge, s, httpHost, httpsHost, tlsConf := proxyEdge(t, "127.0.0.0/8")
		for _, c := range []struct {
			name    string
			addr    string
			version byte
			src     string
			host    string
			tls     *tls.Config
		}{
			{"v1 http", edge.HTTPAddr().String(), 1, "203.0.113.7:40001", httpHost, nil},
			{"v2 https", edge.HTTPSAddr().String(), 2, "[2001:db8::9]:40002", httpsHost, tlsConf},
		} {
			resp := proxiedGet(t, c.addr, c.version, c.src, c.host, c.tls)
			if resp == nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: got %v, want 200", c.name, resp)
			}
			ip, _, _ := net.SplitHostPort(c.src)
			if got := resp.Header.Get("X-Seen-Forwarded-For"); got != ip {
				t.Errorf("%s: the service saw X-Forwarded-For %q, want %q", c.name, got, ip)
			}
			s.WaitOutput(t, ip, 10*time.Second)
		}
		lines := accessLines(t, edge.Access, 2)
		for i, want := range []string{"203.0.113.7", "2001:db8::9"} {
			if lines[i]["visitor"] != want {
				t.Errorf("access line %d: visitor %v, want %s", i, lines[i]["visitor"], want)
			}
		}
		// A trusted source must send the header.
		if resp := proxiedGet(t, edge.HTTPAddr().String(), 1, "", httpHost, nil); resp != nil {
			t.Errorf("no PROXY header from a trusted address: got %d, want the connection closed", resp.StatusCode)
		}
		if resp := proxiedGet(t, edge.HTTPSAddr().String(), 2, "", httpsHost, tlsConf); resp != nil {
			t.Errorf("no PROXY header from a trusted address on https: got %d, want the connection closed", resp.StatusCode)
		}
	})
	t.Run("untrusted", func(t *testing.T) {
		edge, s, httpHost, httpsHost, tlsConf := proxyEdge(t, "10.0.0.0/8")
		if resp := proxiedGet(t, edge.HTTPAddr().String(), 1, "203.0.113.7:40001", httpHost, nil); resp != nil {
			t.Errorf("PROXY v1 header from an untrusted address: got %d, want the connection closed", resp.StatusCode)
		}
		if resp := proxiedGet(t, edge.HTTPSAddr().String(), 2, "203.0.113.8:40002", httpsHost, tlsConf); resp != nil {
			t.Errorf("PROXY v2 header from an untrusted address: got %d, want the connection closed", resp.StatusCode)
		}
		resp := proxiedGet(t, edge.HTTPAddr().String(), 1, "", httpHost, nil)
		if resp == nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("plain request from an untrusted address: got %v, want 200", resp)
		}
		if got := resp.Header.Get("X-Seen-Forwarded-For"); got != "127.0.0.1" {
			t.Errorf("X-Forwarded-For %q, want 127.0.0.1", got)
		}
		lines := accessLines(t, edge.Access, 1)
		if len(lines) != 1 || lines[0]["visitor"] != "127.0.0.1" {
			t.Errorf("access log: want one line from 127.0.0.1, got:\n%s", edge.Access)
		}
		if out := s.Stdout.String(); strings.Contains(out, "203.0.113.") {
			t.Errorf("a spoofed address reached the session:\n%s", out)
		}
	})
}

// TestProxyProtocolTLSPassthrough: behind a trusted balancer, a tls
// (passthrough) tunnel's CIDR rules and access lines see the PROXY
// header's source: a visitor from a denied range is refused though the
// TCP peer (loopback) is allowed, and one from elsewhere is relayed.
func TestProxyProtocolTLSPassthrough(t *testing.T) {
	port, roots := tlsEchoServer(t, "app.localhost")
	edge := endpointEdge(t, func(c *config.Config) {
		c.Log.Format = "json"
		c.ProxyProtocol.Trusted = []string{"127.0.0.1"}
	})
	key := e2e.NewKey(t, t.TempDir(), "ann")
	s := edge.RunSSH(t, key, "-R", "app:443:localhost:"+port, "v2@127.0.0.1", "tls", "--cidr-deny", "203.0.113.0/24")
	s.URL(t)
	dial := func(src string) error {
		t.Helper()
		c, err := net.DialTimeout("tcp", edge.HTTPSAddr().String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		from, _ := net.ResolveTCPAddr("tcp", src)
		if _, err := proxyproto.HeaderProxyFromAddrs(2, from, c.RemoteAddr()).WriteTo(c); err != nil {
			t.Fatal(err)
		}
		tc := tls.Client(c, &tls.Config{ServerName: "app.localhost", RootCAs: roots})
		if err := tc.Handshake(); err != nil {
			return err
		}
		const msg = "hello\n"
		io.WriteString(tc, msg)
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(tc, got); err != nil || string(got) != msg {
			t.Fatalf("echo through passthrough: %q, %v", got, err)
		}
		return nil
	}
	if err := dial("198.51.100.7:5000"); err != nil {
		t.Fatalf("allowed visitor: %v", err)
	}
	if err := dial("203.0.113.7:5000"); err == nil {
		t.Fatal("a visitor in --cidr-deny (by its PROXY source) got through")
	}
	lines := accessLines(t, edge.Access, 2)
	got := map[string]any{}
	for _, l := range lines {
		if l["kind"] != "connection" || l["type"] != "tls" || l["host"] != "app.localhost" {
			t.Errorf("line %v: want a tls connection to app.localhost", l)
		}
		got[l["visitor"].(string)] = l["verdict"]
	}
	want := map[string]any{"198.51.100.7": "continue", "203.0.113.7": "refused by cidr rules"}
	for v, verdict := range want {
		if got[v] != verdict {
			t.Errorf("visitor %s: verdict %v, want %v (lines %v)", v, got[v], verdict, lines)
		}
	}
}

// TestProxyProtocolIdleUntrusted: an untrusted visitor's connection that
// stays silent past the header timeout (a browser's pre-opened
// connection) is not taken for a missing header: its request, once sent,
// is served.
func TestProxyProtocolIdleUntrusted(t *testing.T) {
	e2e.RequireSSH(t)
	_, port := backend(t)
	edge := e2e.StartEdge(t, e2e.EdgeOptions{Configure: func(c *config.Config) {
		c.ProxyProtocol.Trusted = []string{"10.0.0.0/8"}
		c.HTTP.ReadHeaderTimeout = 300 * time.Millisecond
	}})
	key := e2e.NewKey(t, t.TempDir(), "ann")
	s := edge.RunSSH(t, key, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http")
	host, _, _ := strings.Cut(e2e.Host(s.URL(t)), ":")
	c, err := net.DialTimeout("tcp", edge.HTTPAddr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	time.Sleep(3 * edge.Cfg.HTTP.ReadHeaderTimeout) // silent past the header timeout
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("a request after a silent start: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
}
