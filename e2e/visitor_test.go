package e2e_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sshgress/sshgress/e2e"
)

// TestSNIVariantsRouteIdentically: SNI names written in other cases reach
// the same https endpoint as the normalised name (one normaliser for
// routing, certificates and the SNI = Host check).
func TestSNIVariantsRouteIdentically(t *testing.T) {
	_, port := backend(t)
	edge := newEdge(t, nil)
	key := e2e.NewKey(t, t.TempDir(), "id")
	s := edge.RunSSH(t, key, "-R", "variant:443:localhost:"+port, "v2@127.0.0.1", "http")
	s.URL(t)
	roots := e2e.RootPool(t, edge.LocalCARoot())
	_, httpsPort, _ := net.SplitHostPort(edge.HTTPSAddr().String())
	for _, sni := range []string{"variant.localhost", "VARIANT.localhost", "Variant.LocalHost"} {
		t.Run(sni, func(t *testing.T) {
			c, err := edge.DialTLS(sni, &tls.Config{RootCAs: roots, NextProtos: []string{"http/1.1"}})
			if err != nil {
				t.Fatalf("TLS with SNI %q: %v", sni, err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			fmt.Fprintf(c, "GET /v HTTP/1.1\r\nHost: %s:%s\r\nConnection: close\r\n\r\n", sni, httpsPort)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || string(body) != "hello from /v" {
				t.Fatalf("SNI %q: %d %q, want 200 from the tunnel", sni, resp.StatusCode, body)
			}
		})
	}
}

// TestOneNameOneKindOfTunnel: the shared TLS port routes http and tls
// tunnels by the same names, so a name held by one kind cannot be claimed
// by the other (else a tls tunnel's traffic could be terminated and sent
// to someone else's http tunnel).
func TestOneNameOneKindOfTunnel(t *testing.T) {
	_, port := backend(t)
	edge := endpointEdge(t, nil)
	key := e2e.NewKey(t, t.TempDir(), "id")
	tls := edge.RunSSH(t, key, "-R", "shared:443:localhost:"+port, "v2@127.0.0.1", "tls")
	tls.URL(t)
	s := edge.RunSSH(t, key, "-R", "shared:443:localhost:"+port, "v2@127.0.0.1", "http")
	if code := s.Wait(10 * time.Second); code != 1 {
		t.Fatalf("http claim of a tls tunnel's name: exit %d, want 1", code)
	}
	if !strings.Contains(s.Stderr.String(), "in use by a tls tunnel") {
		t.Errorf("stderr %q does not say the name is held by a tls tunnel", s.Stderr)
	}
	h := edge.RunSSH(t, key, "-R", "other:443:localhost:"+port, "v2@127.0.0.1", "http")
	h.URL(t)
	s = edge.RunSSH(t, key, "-R", "other:443:localhost:"+port, "v2@127.0.0.1", "tls")
	if code := s.Wait(10 * time.Second); code != 1 {
		t.Fatalf("tls claim of an http tunnel's name: exit %d, want 1", code)
	}
	if !strings.Contains(s.Stderr.String(), "in use by an http tunnel") {
		t.Errorf("stderr %q does not say the name is held by an http tunnel", s.Stderr)
	}
}
