package core_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/internal/e2e"
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
