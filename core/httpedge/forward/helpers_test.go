package forward_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/httpedge"
	"github.com/sshgress/sshgress/core/httpedge/forward"
	"github.com/sshgress/sshgress/core/tunnel"
)

// forwardResult is what one Forward call returned.
type forwardResult struct {
	status int
	err    error
}

// testEdge is an edge-side HTTP server that forwards every request through
// one Upstream, the way the production handler does.
type testEdge struct {
	srv     *httptest.Server
	u       *forward.Upstream
	results chan forwardResult
}

// tcpDial returns a tunnel.DialFunc that connects to addr over loopback TCP.
func tcpDial(addr string) tunnel.DialFunc {
	return func(ctx context.Context, _ netip.AddrPort) (tunnel.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return c.(*net.TCPConn), nil
	}
}

func newTestEdge(t testing.TB, dial tunnel.DialFunc, opts forward.Options) *testEdge {
	t.Helper()
	if opts.ErrorPage == nil {
		opts.ErrorPage = httpedge.WriteFailurePage // the edge's pages, as in production
	}
	u := forward.NewUpstream(dial, opts)
	e := &testEdge{u: u, results: make(chan forwardResult, 1024)}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		visitor, _ := netip.ParseAddrPort(r.RemoteAddr)
		httpedge.StripVisitorHeaders(r.Header)
		httpedge.SetForwarded(r.Header, visitor, "http", r.Host)
		status, err := u.Forward(w, r, visitor)
		select {
		case e.results <- forwardResult{status, err}:
		default:
		}
	}))
	t.Cleanup(func() {
		e.srv.Close()
		u.Close()
	})
	return e
}

// newBackend starts a real HTTP backend and an edge forwarding to it.
func newBackend(t testing.TB, h http.HandlerFunc, opts forward.Options) *testEdge {
	t.Helper()
	backend := httptest.NewServer(h)
	t.Cleanup(backend.Close)
	return newTestEdge(t, tcpDial(backend.Listener.Addr().String()), opts)
}

// rawBackend serves each TCP connection with handle; the connection is
// closed when handle returns or the test ends.
func rawBackend(t testing.TB, handle func(c net.Conn, br *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]bool{}
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// readHead consumes one request head.
func readHead(br *bufio.Reader) error {
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return err
		}
		if line == "\r\n" {
			return nil
		}
	}
}

func (e *testEdge) url(path string) string { return e.srv.URL + path }

// result waits for the next Forward result.
func (e *testEdge) result(t testing.TB) forwardResult {
	t.Helper()
	select {
	case res := <-e.results:
		return res
	case <-time.After(5 * time.Second):
		t.Fatal("Forward did not return")
		return forwardResult{}
	}
}

func get(t testing.TB, c *http.Client, u string) (int, string, http.Header) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", u, err)
	}
	return resp.StatusCode, string(b), resp.Header
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
