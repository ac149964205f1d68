package e2e_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"

	"github.com/sshgress/sshgress/e2e"
)

// protoEchoHandler answers with the protocol version it was spoken to in.
var protoEchoHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, r.Proto)
})

// portOf is the port of a test server's listener.
func portOf(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// TestUpstreamOptions: --upstream-protocol http2 reaches an h2c service
// in HTTP/2; --upstream-tls reaches a local https service, refusing its
// self-signed certificate (502, and a sentence in the owner's session)
// until --upstream-tls-verify=false; h2 over TLS is negotiated by ALPN;
// without the flags the edge speaks HTTP/1.1; bad values are refused at
// bind.
func TestUpstreamOptions(t *testing.T) {
	e2e.RequireSSH(t)
	e2e.RequireTool(t, "curl", "curl")
	h2cSrv := httptest.NewServer(h2c.NewHandler(protoEchoHandler, &http2.Server{}))
	t.Cleanup(h2cSrv.Close)
	tlsSrv := httptest.NewUnstartedServer(protoEchoHandler)
	tlsSrv.EnableHTTP2 = true
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	edge := newEdge(t, nil)
	key := e2e.NewKey(t, t.TempDir(), "id")

	tests := []struct {
		name       string
		port       string
		flags      []string
		wantStatus int
		wantBody   string
		wantLine   string // in the owner's session
	}{
		{name: "http1 by default", port: portOf(t, h2cSrv), wantStatus: 200, wantBody: "HTTP/1.1"},
		{name: "h2c", port: portOf(t, h2cSrv), flags: []string{"--upstream-protocol", "http2"}, wantStatus: 200, wantBody: "HTTP/2.0"},
		{name: "self-signed refused", port: portOf(t, tlsSrv), flags: []string{"--upstream-tls"}, wantStatus: http.StatusBadGateway,
			// httptest's certificate names example.com and 127.0.0.1, and
			// the edge checks it for localhost (no --host-header).
			wantLine: "upstream TLS: your service's certificate did not verify (it is not valid for localhost); for a self-signed local service add --upstream-tls-verify=false"},
		{name: "self-signed accepted", port: portOf(t, tlsSrv), flags: []string{"--upstream-tls", "--upstream-tls-verify=false"}, wantStatus: 200, wantBody: "HTTP/1.1"},
		{name: "h2 over tls", port: portOf(t, tlsSrv), flags: []string{"--upstream-tls", "--upstream-tls-verify=false", "--upstream-protocol", "http2"}, wantStatus: 200, wantBody: "HTTP/2.0"},
		{name: "plain to a tls service", port: portOf(t, tlsSrv), wantStatus: http.StatusBadRequest}, // Go's TLS server answers plain HTTP with a 400
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := edge.RunSSH(t, key, append([]string{"-R", "80:localhost:" + tt.port, "v2@127.0.0.1", "http", "--inspect=false"}, tt.flags...)...)
			url := s.URL(t)
			res := curlCompressed(t, edge, url, "/")
			if res.status != tt.wantStatus {
				t.Fatalf("status %d (%q), want %d", res.status, res.body, tt.wantStatus)
			}
			if tt.wantBody != "" && string(res.body) != tt.wantBody {
				t.Errorf("the service was spoken to in %q, want %q", res.body, tt.wantBody)
			}
			if tt.wantLine != "" {
				s.WaitOutput(t, tt.wantLine, 10*time.Second)
				// One line, not one per failed request.
				curlCompressed(t, edge, url, "/")
				if n := strings.Count(s.Stdout.String(), tt.wantLine); n != 1 {
					t.Errorf("the hint was printed %d times for two failed requests, want 1", n)
				}
			}
		})
	}

	t.Run("bad values", func(t *testing.T) {
		port := portOf(t, h2cSrv)
		httpRefused(t, edge, key, port, `--upstream-protocol takes http1 or http2, not "spdy".`, "--upstream-protocol", "spdy")
		httpRefused(t, edge, key, port, "--upstream-tls-verify only applies with --upstream-tls", "--upstream-tls-verify=false")
		httpRefused(t, edge, key, port, "--upstream-tls is a switch", "--upstream-tls=maybe")
	})
	t.Run("help", func(t *testing.T) {
		httpHelpLists(t, edge, key, "--upstream-protocol", "--upstream-tls ", "--upstream-tls-verify")
	})
}
