package forward_test

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"

	"github.com/sshgress/sshgress/core/httpedge/forward"
	"github.com/sshgress/sshgress/core/tunnel"
)

// protoEcho answers with the protocol, Host and body it got.
func protoEcho(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, r.Proto+" "+r.Host+" "+string(b))
}

// get sends method with body to the test edge and returns status and body.
func send(t *testing.T, e *testEdge, method, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+"/x", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == "" {
		req.Body = http.NoBody
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestHTTP2Cleartext: with UseHTTP2(nil) requests reach an h2c-only
// service as HTTP/2, bodies both ways, many requests on one channel.
func TestHTTP2Cleartext(t *testing.T) {
	backend := httptest.NewServer(h2c.NewHandler(http.HandlerFunc(protoEcho), &http2.Server{}))
	t.Cleanup(backend.Close)
	e := newTestEdge(t, tcpDial(backend.Listener.Addr().String()), forward.Options{})
	e.u.UseHTTP2(nil)
	for i := range 5 {
		status, body := send(t, e, http.MethodPost, "hello")
		if status != 200 || !strings.HasPrefix(body, "HTTP/2.0 ") || !strings.HasSuffix(body, " hello") {
			t.Fatalf("request %d: %d %q, want 200 from HTTP/2.0 with the body", i, status, body)
		}
	}
	if n := e.u.Dials(); n != 1 {
		t.Errorf("%d channels opened for 5 requests, want 1 (HTTP/2 streams share it)", n)
	}
	e.u.SetRequestHost("localhost:3000")
	if _, body := send(t, e, http.MethodGet, ""); !strings.Contains(body, " localhost:3000 ") {
		t.Errorf("with a Host override the service saw %q, want Host localhost:3000", body)
	}
}

// TestHTTP2CloseWaitsForRequests: Close leaves an HTTP/2 connection
// serving a request in flight alone and closes it when that request ends,
// so no connection to the service outlives the tunnel.
func TestHTTP2CloseWaitsForRequests(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	backend := httptest.NewServer(h2c.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "done")
	}), &http2.Server{}))
	t.Cleanup(backend.Close)
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	dial := func(ctx context.Context, from netip.AddrPort) (tunnel.Conn, error) {
		c, err := tcpDial(backend.Listener.Addr().String())(ctx, from)
		if err == nil {
			mu.Lock()
			conns = append(conns, c.(net.Conn))
			mu.Unlock()
		}
		return c, err
	}
	e := newTestEdge(t, dial, forward.Options{})
	e.u.UseHTTP2(nil)
	got := make(chan string, 1)
	go func() {
		resp, err := e.srv.Client().Get(e.srv.URL + "/slow")
		if err != nil {
			got <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- string(b)
	}()
	<-entered
	e.u.Close()
	mu.Lock()
	c := conns[0]
	mu.Unlock()
	// SetReadBuffer fails on a closed connection and changes nothing else.
	if err := c.(*net.TCPConn).SetReadBuffer(64 << 10); err != nil {
		t.Fatalf("Close ended the connection of a request in flight: %v", err)
	}
	close(release)
	if body := <-got; body != "done" {
		t.Fatalf("the request in flight at Close got %q, want its response", body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for c.(*net.TCPConn).SetReadBuffer(64<<10) == nil {
		if time.Now().After(deadline) {
			t.Fatal("the HTTP/2 connection is still open 5 s after its last request ended on a closed Upstream")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestHTTP2Down: a service that does not speak h2c gets the visitor a
// 502 page, never a hang.
func TestHTTP2Down(t *testing.T) {
	e := newBackend(t, protoEcho, forward.Options{}) // HTTP/1.1 only
	e.u.UseHTTP2(nil)
	if status, _ := send(t, e, http.MethodGet, ""); status != http.StatusBadGateway {
		t.Errorf("status %d from an HTTP/1.1-only service, want 502", status)
	}
	var herr forward.HintError
	if res := <-e.results; !errors.As(res.err, &herr) || !strings.Contains(herr.Hint(), "drop the flag") {
		t.Errorf("Forward error %v, want one whose hint says to drop --upstream-protocol http2", res.err)
	}
}

// TestUpstreamTLS: TLS to the service inside the channel, with and
// without verification, over HTTP/1.1 and HTTP/2 (ALPN).
func TestUpstreamTLS(t *testing.T) {
	backend := httptest.NewUnstartedServer(http.HandlerFunc(protoEcho))
	backend.EnableHTTP2 = true
	backend.StartTLS()
	t.Cleanup(backend.Close)
	roots := x509.NewCertPool()
	roots.AddCert(backend.Certificate())
	dial := tcpDial(backend.Listener.Addr().String())

	tests := []struct {
		name       string
		tls        forward.UpstreamTLS
		http2      bool
		wantStatus int
		wantProto  string
	}{
		{"verified", forward.UpstreamTLS{Verify: true, Roots: roots, ServerName: "example.com"}, false, 200, "HTTP/1.1"},
		{"verified http2", forward.UpstreamTLS{Verify: true, Roots: roots, ServerName: "example.com"}, true, 200, "HTTP/2.0"},
		{"not verified", forward.UpstreamTLS{Verify: false}, false, 200, "HTTP/1.1"},
		{"unknown authority", forward.UpstreamTLS{Verify: true}, false, http.StatusBadGateway, ""},
		{"wrong name", forward.UpstreamTLS{Verify: true, Roots: roots, ServerName: "other.example"}, true, http.StatusBadGateway, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e *testEdge
			if tt.http2 {
				e = newTestEdge(t, dial, forward.Options{})
				e.u.UseHTTP2(&tt.tls)
			} else {
				e = newTestEdge(t, dial, forward.Options{})
				e.u.UseTLS(tt.tls)
			}
			status, body := send(t, e, http.MethodPost, "hi")
			if status != tt.wantStatus {
				t.Fatalf("status %d (%q), want %d", status, body, tt.wantStatus)
			}
			res := <-e.results
			if tt.wantStatus != 200 {
				var terr *forward.UpstreamTLSError
				if !errors.As(res.err, &terr) || !terr.Unverified {
					t.Fatalf("Forward error %v, want an unverified UpstreamTLSError", res.err)
				}
				if hint := terr.Hint(); !strings.Contains(hint, "--upstream-tls-verify=false") {
					t.Errorf("hint %q does not say how to accept a self-signed service", hint)
				}
				return
			}
			if !strings.HasPrefix(body, tt.wantProto+" ") || !strings.HasSuffix(body, " hi") {
				t.Errorf("service saw %q, want %s with the body", body, tt.wantProto)
			}
		})
	}
}
