package forward_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/httpedge"
	"github.com/sshgress/sshgress/core/httpedge/forward"
	"golang.org/x/net/http/httpguts"
)

func TestUpstreamHeaders(t *testing.T) {
	seen := make(chan http.Header, 1)
	e := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Clone()
		h.Set("Host", r.Host)
		seen <- h
		w.Header().Set("Connection", "X-Drop")
		w.Header().Set("X-Drop", "1")
		w.Header().Set("X-Keep", "1")
		w.Header().Set("Proxy-Authenticate", "Basic")
	}, forward.Options{})
	req, _ := http.NewRequest("GET", e.url("/h"), nil)
	req.Header.Set("X-Forwarded-For", "6.6.6.6")
	req.Header["X_Forwarded_Host"] = []string{"evil.example"}
	req.Header.Set("X-Sshgress-User", "admin")
	// Naming the edge's own headers in Connection must not remove them.
	req.Header.Set("Connection", "X-Secret, X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host")
	req.Header.Set("X-Secret", "1")
	req.Header.Set("Proxy-Authorization", "Basic eA==")
	req.Header.Set("Keep-Alive", "timeout=5")
	req.Header.Set("Te", "trailers, deflate")
	req.Header.Set("User-Agent", "fwdt/1")
	req.Header.Set("Upgrade", "websocket") // not asked for in Connection: dropped
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	got := <-seen
	host := e.srv.Listener.Addr().String()
	for _, tc := range []struct{ key, want string }{
		{"X-Forwarded-For", "127.0.0.1"},
		{"X-Forwarded-Host", host},
		{"X-Forwarded-Proto", "http"},
		{"X_forwarded_host", ""},
		{"X-Sshgress-User", ""},
		{"X-Secret", ""},
		{"Proxy-Authorization", ""},
		{"Keep-Alive", ""},
		{"Upgrade", ""},
		{"Te", "trailers"},
		{"User-Agent", "fwdt/1"},
		{"Host", host},
	} {
		if v := strings.Join(got.Values(tc.key), ","); v != tc.want {
			t.Errorf("upstream saw %s = %q, want %q", tc.key, v, tc.want)
		}
	}
	for _, tc := range []struct{ key, want string }{
		{"X-Drop", ""},
		{"X-Keep", "1"},
		{"Proxy-Authenticate", ""},
	} {
		if v := resp.Header.Get(tc.key); v != tc.want {
			t.Errorf("visitor saw %s = %q, want %q", tc.key, v, tc.want)
		}
	}
}

func TestUpstreamRequestTrailersAndExpect(t *testing.T) {
	e := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s|%s|%s", b, r.Trailer.Get("X-Checksum"), r.Header.Get("Expect"))
		// Identity trailers must not arrive (a server merging trailers
		// into headers would believe them).
		for _, k := range []string{"X-Forwarded-For", "X-Sshgress-User-Email", "X-Real-Ip", "Client-Ip", "User-Agent"} {
			if v := r.Trailer.Get(k); v != "" {
				fmt.Fprintf(w, "|trailer %s=%s", k, v)
			}
		}
		fmt.Fprintf(w, "|xff=%s", r.Header.Get("X-Forwarded-For"))
	}, forward.Options{})
	tr := e.srv.Client().Transport.(*http.Transport)
	tr.ExpectContinueTimeout = 5 * time.Second
	for _, tc := range []struct {
		name    string
		length  int64
		trailer http.Header
		expect  bool
		want    string
	}{
		{"chunked with trailer", -1, http.Header{"X-Checksum": {"abc"}}, false, "hello|abc||xff=127.0.0.1"},
		{"identity trailers dropped", -1, http.Header{
			"X-Checksum":            {"abc"},
			"X-Forwarded-For":       {"6.6.6.6"},
			"X-Sshgress-User-Email": {"admin@example.com"},
			"X-Real-Ip":             {"6.6.6.6"},
			"Client-Ip":             {"6.6.6.6"},
			"User-Agent":            {"evil"},
		}, false, "hello|abc||xff=127.0.0.1"},
		{"content-length with expect", 5, nil, true, "hello|||xff=127.0.0.1"},
		{"chunked with expect", -1, nil, true, "hello|||xff=127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("PUT", e.url("/t"), io.MultiReader(strings.NewReader("hello")))
			req.ContentLength = tc.length
			req.Trailer = tc.trailer
			if tc.expect {
				req.Header.Set("Expect", "100-continue")
			}
			resp, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != tc.want {
				t.Errorf("got %q, want %q", b, tc.want)
			}
		})
	}
}

func TestUpstreamRequestTarget(t *testing.T) {
	seen := make(chan string, 1)
	addr := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		line, _ := br.ReadString('\n')
		seen <- line
		if readHead(br) == nil {
			io.WriteString(c, "HTTP/1.1 204 No Content\r\n\r\n")
		}
	})
	u := forward.NewUpstream(tcpDial(addr), forward.Options{})
	defer u.Close()
	for _, tc := range []struct {
		name string
		url  *url.URL
		want string
	}{
		{"origin form", &url.URL{Path: "/a b", RawQuery: "x=1"}, "GET /a%20b?x=1 HTTP/1.1\r\n"},
		{"absolute form", &url.URL{Scheme: "http", Host: "h", Path: "/p"}, "GET /p HTTP/1.1\r\n"},
		{"control bytes in query", &url.URL{Path: "/", RawQuery: "a=\r\nX: 1 2"}, "GET /?a=%0D%0AX:%201%202 HTTP/1.1\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &http.Request{Method: "GET", URL: tc.url, Host: "h", Header: http.Header{}, Body: http.NoBody}
			w := &discardWriter{h: http.Header{}}
			if status, err := u.Forward(w, r, netip.AddrPort{}); status != 204 || err != nil {
				t.Fatalf("Forward: %d, %v", status, err)
			}
			if got := <-seen; got != tc.want {
				t.Errorf("request line %q, want %q", got, tc.want)
			}
		})
	}
}

func TestUpstreamConnectRefused(t *testing.T) {
	e := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		t.Error("CONNECT reached the upstream")
	}, forward.Options{})
	c, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: "CONNECT"})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Errorf("got %d, want 405", resp.StatusCode)
	}
	e.result(t)
}

// TestVisitorCannotRemoveEdgeHeaders: a visitor naming the edge's own
// headers in Connection cannot make them disappear. The visitor's
// Connection-named headers go before the edge sets its own, and what is
// left of Connection names only the upgrade, so the request writer drops
// nothing the edge or a middleware set: the upstream gets them all.
func TestVisitorCannotRemoveEdgeHeaders(t *testing.T) {
	heads := make(chan *http.Request, 1)
	addr := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return // the edge closed the connection
			}
			heads <- req
			if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"); err != nil {
				return
			}
		}
	})
	u := forward.NewUpstream(tcpDial(addr), forward.Options{ErrorPage: httpedge.WriteFailurePage})
	defer u.Close()
	for _, tc := range []struct {
		name       string
		conn       string
		upgrade    bool
		wantConn   string
		wantUpType string
	}{
		{"edge headers named", "close, X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host, X-Sshgress-User-Email, X-Secret", false, "", ""},
		{"with upgrade", "Upgrade, X-Forwarded-For, x-forwarded-proto, X-FORWARDED-HOST, X-Secret", true, "Upgrade", "websocket"},
		{"lower-case tokens, spaces", "  x-forwarded-for ,x-secret,", false, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{
				"Connection":      {tc.conn},
				"X-Secret":        {"1"},
				"X-Forwarded-For": {"6.6.6.6"},
				"Keep-Alive":      {"timeout=5"},
				"Te":              {"trailers"},
				"Accept":          {"*/*"},
			}
			if tc.upgrade {
				h["Upgrade"] = []string{"websocket"}
			}
			httpedge.StripVisitorHeaders(h)
			visitor := netip.MustParseAddrPort("203.0.113.7:5000")
			httpedge.SetForwarded(h, visitor, "https", "app.example.com")
			h.Set("X-Sshgress-User-Email", "ann@example.com") // as a middleware's verdict does
			if got := strings.Join(h["Connection"], ","); got != tc.wantConn {
				t.Errorf("Connection = %q, want %q", got, tc.wantConn)
			}
			for _, k := range []string{"X-Secret", "Keep-Alive"} {
				if _, ok := h[k]; ok {
					t.Errorf("%s was kept; the visitor named it or it is hop-by-hop", k)
				}
			}
			r := (&http.Request{
				Method: "GET", URL: &url.URL{Path: "/"}, Host: "app.example.com", Header: h,
				Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Body: http.NoBody,
			}).WithContext(context.Background())
			w := httptest.NewRecorder()
			if status, err := u.Forward(w, r, visitor); status != 200 || err != nil {
				t.Fatalf("Forward = %d, %v; want 200, nil", status, err)
			}
			var written *http.Request
			select {
			case written = <-heads:
			case <-time.After(5 * time.Second):
				t.Fatal("the upstream got no request")
			}
			gotUp := written.Header.Get("Upgrade")
			if !httpguts.HeaderValuesContainsToken(written.Header["Connection"], "upgrade") {
				gotUp = ""
			}
			if gotUp != tc.wantUpType {
				t.Errorf("upgrade asked of the upstream = %q, want %q", gotUp, tc.wantUpType)
			}
			for k, want := range map[string]string{
				"X-Forwarded-For":       "203.0.113.7",
				"X-Forwarded-Proto":     "https",
				"X-Forwarded-Host":      "app.example.com",
				"X-Sshgress-User-Email": "ann@example.com",
				"Accept":                "*/*",
				"X-Secret":              "",
			} {
				if got := strings.Join(written.Header.Values(k), ","); got != want {
					t.Errorf("upstream gets %s = %q, want %q", k, got, want)
				}
			}
		})
	}
}
