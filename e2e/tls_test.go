package e2e_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/certs"
	"github.com/sshgress/sshgress/e2e"
)

// protoBackend answers with what the upstream saw of the forwarding.
func protoBackend(t *testing.T) string {
	return serveBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "proto=%s host=%s", r.Header.Get("X-Forwarded-Proto"), r.Host)
	}))
}

func TestHTTPSLocalCA(t *testing.T) {
	port := protoBackend(t)
	edge := newEdge(t, nil)
	key := e2e.NewKey(t, t.TempDir(), "id")
	s := edge.RunSSH(t, key, "-R", "secure:443:localhost:"+port, "v2@127.0.0.1", "http")
	url := s.URL(t)
	_, httpsPort, _ := net.SplitHostPort(edge.HTTPSAddr().String())
	if want := "https://secure.localhost:" + httpsPort; url != want {
		t.Fatalf("url %q, want %q", url, want)
	}
	roots := e2e.RootPool(t, edge.LocalCARoot())
	client := edge.HTTPSClient(t, roots)

	t.Run("verified against the local CA, over HTTP/2", func(t *testing.T) {
		resp, err := client.Get(url + "/x")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(b) != "proto=https host=secure.localhost:"+httpsPort {
			t.Fatalf("GET = %d %q", resp.StatusCode, b)
		}
		if resp.ProtoMajor != 2 {
			t.Errorf("protocol %s, want HTTP/2", resp.Proto)
		}
	})
	t.Run("HTTP/1.1", func(t *testing.T) {
		c, err := edge.DialTLS("secure.localhost", &tls.Config{RootCAs: roots, NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: secure.localhost\r\nConnection: close\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("SNI is not Host: 421", func(t *testing.T) {
		other := edge.RunSSH(t, key, "-R", "other:443:localhost:"+port, "v2@127.0.0.1", "http")
		other.URL(t)
		c, err := edge.DialTLS("secure.localhost", &tls.Config{RootCAs: roots, NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: other.localhost\r\nConnection: close\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMisdirectedRequest {
			t.Fatalf("status %d, want 421", resp.StatusCode)
		}
	})
	t.Run("unknown SNI is closed", func(t *testing.T) {
		c, err := edge.DialTLS("nobody.localhost", &tls.Config{RootCAs: roots})
		if err == nil {
			c.Close()
			t.Fatal("handshake for an unknown name succeeded, want the connection closed")
		}
	})
	t.Run("plain HTTP redirects", func(t *testing.T) {
		status, _ := edge.Get(t, "http://secure.localhost/p?q=1")
		if status != http.StatusPermanentRedirect {
			t.Fatalf("status %d, want 308", status)
		}
	})
	t.Run("-R 80 stays http", func(t *testing.T) {
		s := edge.RunSSH(t, key, "-R", "plain:80:localhost:"+port, "v2@127.0.0.1", "http")
		if u := s.URL(t); !strings.HasPrefix(u, "http://plain.localhost:") {
			t.Fatalf("url %q, want http://", u)
		}
	})
}

// tlsEchoServer is a TLS echo service with its own CA, like a user's
// service with its own certificate.
func tlsEchoServer(t *testing.T, name string) (port string, roots *x509.CertPool) {
	t.Helper()
	ca, _, err := certs.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Certificate(name)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{*cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	roots = x509.NewCertPool()
	roots.AddCert(ca.Root())
	_, port, _ = net.SplitHostPort(ln.Addr().String())
	return port, roots
}

func TestTLSPassthrough(t *testing.T) {
	port, roots := tlsEchoServer(t, "app.localhost")
	edge := endpointEdge(t, nil)
	key := e2e.NewKey(t, t.TempDir(), "id")
	s := edge.RunSSH(t, key, "-R", "app:443:localhost:"+port, "v2@127.0.0.1", "tls")
	url := s.URL(t)
	if !strings.HasPrefix(url, "tls://app.localhost:") {
		t.Fatalf("url %q, want tls://app.localhost:PORT", url)
	}
	// The client verifies the backend's own certificate: the edge did not
	// terminate TLS.
	c, err := edge.DialTLS("app.localhost", &tls.Config{RootCAs: roots})
	if err != nil {
		t.Fatalf("handshake through the edge: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(50 * time.Second))
	n := bulkSize(64 << 20)
	sent, got := sha256.New(), sha256.New()
	werr := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.MultiWriter(c, sent), io.LimitReader(&pattern{}, n))
		werr <- err
	}()
	m, err := io.Copy(got, io.LimitReader(c, n))
	if err != nil || m != n {
		t.Fatalf("read echo: %d bytes, %v", m, err)
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Sum(nil), sent.Sum(nil)) {
		t.Fatal("echo checksum differs")
	}

	t.Run("port rule", func(t *testing.T) {
		s := edge.RunSSH(t, key, "-R", "x:8443:localhost:"+port, "v2@127.0.0.1", "tls")
		if code := s.Wait(10 * time.Second); code <= 0 {
			t.Fatalf("exit %d, want failure", code)
		}
		if !strings.Contains(s.Stderr.String(), "443 or 0") {
			t.Errorf("stderr %q lacks the port rule", s.Stderr)
		}
	})
	t.Run("cidr deny", func(t *testing.T) {
		s := edge.RunSSH(t, key, "-R", "denied:443:localhost:"+port, "v2@127.0.0.1", "tls", "--cidr-deny", "127.0.0.0/8")
		s.URL(t)
		c, err := edge.DialTLS("denied.localhost", &tls.Config{RootCAs: roots})
		if err == nil {
			c.Close()
			t.Fatal("denied visitor completed a handshake")
		}
	})
}
