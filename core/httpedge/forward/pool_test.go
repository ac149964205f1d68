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
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/httpedge/forward"
	"github.com/sshgress/sshgress/core/tunnel"
)

func TestUpstreamKeepAliveReuse(t *testing.T) {
	e := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.URL.RequestURI())
	}, forward.Options{})
	c := e.srv.Client()
	for i := range 100 {
		path := fmt.Sprintf("/n/%d?q=%d", i, i)
		status, body, _ := get(t, c, e.url(path))
		if want := "hello " + path; status != 200 || body != want {
			t.Fatalf("request %d: got %d %q, want 200 %q", i, status, body, want)
		}
		if res := e.result(t); res.status != 200 || res.err != nil {
			t.Fatalf("request %d: Forward returned %d, %v; want 200, nil", i, res.status, res.err)
		}
	}
	if got := e.u.Dials(); got != 1 {
		t.Errorf("Dials() = %d after 100 sequential requests, want 1", got)
	}
	if got := e.u.IdleCount(); got != 1 {
		t.Errorf("IdleCount() = %d, want 1", got)
	}
}

func TestUpstreamConcurrent(t *testing.T) {
	e := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat(r.URL.Path, 100))
	}, forward.Options{})
	c := e.srv.Client()
	c.Transport.(*http.Transport).MaxIdleConnsPerHost = 50
	const workers, each = 50, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				path := fmt.Sprintf("/%d-%d", g, i)
				resp, err := c.Get(e.url(path))
				if err != nil {
					errs <- err
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(b) != strings.Repeat(path, 100) {
					errs <- fmt.Errorf("%s: got %d bytes, %v", path, len(b), err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := e.u.Dials(); got > workers {
		t.Errorf("Dials() = %d, want <= %d", got, workers)
	}
}

func TestUpstreamRetryStaleConn(t *testing.T) {
	// The backend answers one request per connection, announcing
	// keep-alive, then closes: every pooled connection goes stale.
	addr := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		if readHead(br) == nil {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	e := newTestEdge(t, tcpDial(addr), forward.Options{})
	c := e.srv.Client()
	for _, tc := range []struct {
		name, method string
		body         string
		status       int
		dials        uint64
	}{
		{"first GET", "GET", "", 200, 1},
		{"GET on stale conn is retried", "GET", "", 200, 2},
		{"bodyless POST on stale conn is retried", "POST", "", 200, 3},
		{"POST with body on stale conn is not retried", "POST", "data", 502, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			req, _ := http.NewRequest(tc.method, e.url("/"), body)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			e.result(t)
			if resp.StatusCode != tc.status || e.u.Dials() != tc.dials {
				t.Errorf("got %d with %d dials, want %d with %d", resp.StatusCode, e.u.Dials(), tc.status, tc.dials)
			}
		})
	}
}

func TestUpstreamIdleTimeout(t *testing.T) {
	e := newBackend(t, func(w http.ResponseWriter, r *http.Request) {}, forward.Options{IdleTimeout: 50 * time.Millisecond})
	get(t, e.srv.Client(), e.url("/"))
	e.result(t)
	// The sweep timer closes the idle connection with no further traffic.
	waitFor(t, "the idle connection to expire", func() bool { return e.u.IdleCount() == 0 })
	get(t, e.srv.Client(), e.url("/"))
	e.result(t)
	if got := e.u.Dials(); got != 2 {
		t.Errorf("Dials() = %d, want 2", got)
	}
}

func TestUpstreamMaxIdle(t *testing.T) {
	const n = 6
	var arrived atomic.Int32
	all := make(chan struct{})
	e := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		if arrived.Add(1) == n {
			close(all)
		}
		select {
		case <-all:
		case <-time.After(5 * time.Second):
		}
	}, forward.Options{MaxIdle: 2})
	c := e.srv.Client()
	c.Transport.(*http.Transport).MaxIdleConnsPerHost = n
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			get(t, c, e.url("/"))
		}()
	}
	wg.Wait()
	for range n {
		e.result(t)
	}
	if got, idle := e.u.Dials(), e.u.IdleCount(); got != n || idle != 2 {
		t.Errorf("Dials() = %d, IdleCount() = %d; want %d, 2", got, idle, n)
	}
}

// TestUpstreamBurstIdle: after a burst of concurrent requests, the idle
// connections beyond KeepIdle close after BurstIdleTimeout, and the
// KeepIdle most recent stay for IdleTimeout.
func TestUpstreamBurstIdle(t *testing.T) {
	const burst = 6
	var arrived sync.WaitGroup
	arrived.Add(burst)
	e := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		arrived.Done()
		arrived.Wait() // all requests in flight at once: one connection each
	}, forward.Options{KeepIdle: 2, BurstIdleTimeout: 100 * time.Millisecond, IdleTimeout: time.Minute})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: burst}}
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	for range burst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			get(t, client, e.url("/"))
		}()
	}
	wg.Wait()
	for range burst {
		e.result(t)
	}
	if got := e.u.Dials(); got != burst {
		t.Fatalf("Dials() = %d, want %d", got, burst)
	}
	waitFor(t, "the burst's extra idle connections to close", func() bool { return e.u.IdleCount() == 2 })
	time.Sleep(300 * time.Millisecond)
	if got := e.u.IdleCount(); got != 2 {
		t.Errorf("IdleCount() = %d after the burst timeout, want the 2 kept for IdleTimeout", got)
	}
}

func TestUpstreamClose(t *testing.T) {
	e := newBackend(t, func(w http.ResponseWriter, r *http.Request) {}, forward.Options{})
	get(t, e.srv.Client(), e.url("/"))
	e.result(t)
	e.u.Close()
	e.u.Close()
	if idle := e.u.IdleCount(); idle != 0 {
		t.Errorf("IdleCount() = %d after Close, want 0", idle)
	}
	status, _, h := get(t, e.srv.Client(), e.url("/"))
	if status != 502 || h.Get("X-Sshgress-Error") != "ERR_SSHGRESS_UPSTREAM" {
		t.Errorf("after Close: got %d %s, want 502 ERR_SSHGRESS_UPSTREAM", status, h.Get("X-Sshgress-Error"))
	}
	if got := e.u.Dials(); got != 1 {
		t.Errorf("Dials() = %d, want 1 (no dial after Close)", got)
	}
}

func TestUpstreamBackendDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	e := newTestEdge(t, tcpDial(addr), forward.Options{})
	status, body, h := get(t, e.srv.Client(), e.url("/"))
	if status != 502 || h.Get("X-Sshgress-Error") != "ERR_SSHGRESS_UPSTREAM" {
		t.Errorf("got %d %s, want 502 ERR_SSHGRESS_UPSTREAM", status, h.Get("X-Sshgress-Error"))
	}
	if !strings.Contains(body, "ERR_SSHGRESS_UPSTREAM") {
		t.Errorf("page does not show the error code: %q", body)
	}
	if res := e.result(t); res.status != 502 || res.err == nil {
		t.Errorf("Forward returned %d, %v; want 502 and an error", res.status, res.err)
	}
}

func TestUpstreamDialTimeout(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer backend.Close()
	release := make(chan struct{})
	tcp := tcpDial(backend.Listener.Addr().String())
	// A tunnel.DialFunc that ignores its context, like a stuck channel open.
	dial := func(_ context.Context, v netip.AddrPort) (tunnel.Conn, error) {
		<-release
		return tcp(context.Background(), v)
	}
	e := newTestEdge(t, dial, forward.Options{DialTimeout: 50 * time.Millisecond})
	start := time.Now()
	status, _, h := get(t, e.srv.Client(), e.url("/"))
	if status != 502 || h.Get("X-Sshgress-Error") != "ERR_SSHGRESS_UPSTREAM" {
		t.Errorf("got %d %s, want 502 ERR_SSHGRESS_UPSTREAM", status, h.Get("X-Sshgress-Error"))
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("502 took %v, want about the 50ms dial timeout", d)
	}
	close(release)
	// The late connection is pooled for the next visitor.
	waitFor(t, "the late connection to be pooled", func() bool { return e.u.IdleCount() == 1 })
}
