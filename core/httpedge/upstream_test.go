package httpedge

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/netip"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sshgress/sshgress/core/tunnel"
)

// fwdtResult is what one Forward call returned.
type fwdtResult struct {
	status int
	err    error
}

// fwdtEdge is an edge-side HTTP server that forwards every request through
// one Upstream, the way the production handler does.
type fwdtEdge struct {
	srv     *httptest.Server
	u       *Upstream
	results chan fwdtResult
}

// fwdtTCPDial returns a tunnel.DialFunc that connects to addr over loopback TCP.
func fwdtTCPDial(addr string) tunnel.DialFunc {
	return func(ctx context.Context, _ netip.AddrPort) (tunnel.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return c.(*net.TCPConn), nil
	}
}

func fwdtNewEdge(t testing.TB, dial tunnel.DialFunc, opts UpstreamOptions) *fwdtEdge {
	t.Helper()
	u := NewUpstream(dial, opts)
	e := &fwdtEdge{u: u, results: make(chan fwdtResult, 1024)}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		visitor, _ := netip.ParseAddrPort(r.RemoteAddr)
		StripVisitorHeaders(r.Header)
		SetForwarded(r.Header, visitor, "http", r.Host)
		status, err := u.Forward(w, r, visitor)
		select {
		case e.results <- fwdtResult{status, err}:
		default:
		}
	}))
	t.Cleanup(func() {
		e.srv.Close()
		u.Close()
	})
	return e
}

// fwdtNewBackend starts a real HTTP backend and an edge forwarding to it.
func fwdtNewBackend(t testing.TB, h http.HandlerFunc, opts UpstreamOptions) *fwdtEdge {
	t.Helper()
	backend := httptest.NewServer(h)
	t.Cleanup(backend.Close)
	return fwdtNewEdge(t, fwdtTCPDial(backend.Listener.Addr().String()), opts)
}

// fwdtRawBackend serves each TCP connection with handle; the connection is
// closed when handle returns or the test ends.
func fwdtRawBackend(t testing.TB, handle func(c net.Conn, br *bufio.Reader)) string {
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

// fwdtReadHead consumes one request head.
func fwdtReadHead(br *bufio.Reader) error {
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

func (e *fwdtEdge) url(path string) string { return e.srv.URL + path }

// result waits for the next Forward result.
func (e *fwdtEdge) result(t testing.TB) fwdtResult {
	t.Helper()
	select {
	case res := <-e.results:
		return res
	case <-time.After(5 * time.Second):
		t.Fatal("Forward did not return")
		return fwdtResult{}
	}
}

func fwdtGet(t testing.TB, c *http.Client, u string) (int, string, http.Header) {
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

func fwdtWaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestUpstreamKeepAliveReuse(t *testing.T) {
	e := fwdtNewBackend(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.URL.RequestURI())
	}, UpstreamOptions{})
	c := e.srv.Client()
	for i := range 100 {
		path := fmt.Sprintf("/n/%d?q=%d", i, i)
		status, body, _ := fwdtGet(t, c, e.url(path))
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

func TestUpstreamHeaders(t *testing.T) {
	seen := make(chan http.Header, 1)
	e := fwdtNewBackend(t, func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Clone()
		h.Set("Host", r.Host)
		seen <- h
		w.Header().Set("Connection", "X-Drop")
		w.Header().Set("X-Drop", "1")
		w.Header().Set("X-Keep", "1")
		w.Header().Set("Proxy-Authenticate", "Basic")
	}, UpstreamOptions{})
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

func TestUpstreamConcurrent(t *testing.T) {
	e := fwdtNewBackend(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat(r.URL.Path, 100))
	}, UpstreamOptions{})
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

func TestUpstreamLargeBody(t *testing.T) {
	data := make([]byte, 10<<20)
	rng := rand.NewChaCha8([32]byte{1})
	rng.Read(data)
	sum := sha256.Sum256(data)
	want := hex.EncodeToString(sum[:])

	e := fwdtNewBackend(t, func(w http.ResponseWriter, r *http.Request) {
		// Echo while reading, and report what arrived in a trailer.
		http.NewResponseController(w).EnableFullDuplex()
		w.Header().Set("Trailer", "X-Request-Sha256")
		h := sha256.New()
		if _, err := io.Copy(w, io.TeeReader(r.Body, h)); err != nil {
			t.Errorf("backend: %v", err)
		}
		w.Header().Set("X-Request-Sha256", hex.EncodeToString(h.Sum(nil)))
	}, UpstreamOptions{})

	for _, tc := range []struct {
		name   string
		length int64
	}{
		{"content-length", int64(len(data))},
		{"chunked", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", e.url("/echo"), io.MultiReader(bytes.NewReader(data)))
			req.ContentLength = tc.length
			resp, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			h := sha256.New()
			n, err := io.Copy(h, resp.Body)
			if err != nil {
				t.Fatalf("read response: %v", err)
			}
			if got := hex.EncodeToString(h.Sum(nil)); got != want || n != int64(len(data)) {
				t.Errorf("response: got %d bytes sha256 %s, want %d bytes %s", n, got, len(data), want)
			}
			if got := resp.Trailer.Get("X-Request-Sha256"); got != want {
				t.Errorf("upstream received sha256 %s, want %s", got, want)
			}
		})
	}
}

func TestUpstreamRequestTrailersAndExpect(t *testing.T) {
	e := fwdtNewBackend(t, func(w http.ResponseWriter, r *http.Request) {
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
	}, UpstreamOptions{})
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

func TestUpstreamResponseTrailers(t *testing.T) {
	e := fwdtNewBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Announced")
		io.WriteString(w, "body")
		w.Header().Set("X-Announced", "1")
		w.Header().Set(http.TrailerPrefix+"X-Late", "2")
	}, UpstreamOptions{})
	resp, err := e.srv.Client().Get(e.url("/"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(b) != "body" {
		t.Fatalf("body: got %q, %v; want \"body\"", b, err)
	}
	for k, want := range map[string]string{"X-Announced": "1", "X-Late": "2"} {
		if got := resp.Trailer.Get(k); got != want {
			t.Errorf("trailer %s = %q, want %q", k, got, want)
		}
	}
}

func TestUpstreamEarlyHints(t *testing.T) {
	e := fwdtNewBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</app.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		w.Header().Set("X-Final", "1")
		io.WriteString(w, "ok")
	}, UpstreamOptions{})
	var hints []string
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		hints = append(hints, fmt.Sprintf("%d %s", code, h.Get("Link")))
		return nil
	}}
	req, _ := http.NewRequest("GET", e.url("/"), nil)
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := []string{"103 </app.css>; rel=preload"}; fmt.Sprint(hints) != fmt.Sprint(want) {
		t.Errorf("1xx responses: got %q, want %q", hints, want)
	}
	if resp.StatusCode != 200 || string(b) != "ok" || resp.Header.Get("X-Final") != "1" {
		t.Errorf("final: got %d %q X-Final=%q, want 200 \"ok\" X-Final=1", resp.StatusCode, b, resp.Header.Get("X-Final"))
	}
	if got := resp.Header.Get("Link"); got != "" {
		t.Errorf("final response has the 103's Link header %q", got)
	}
}

func TestUpstreamBodylessResponses(t *testing.T) {
	e := fwdtNewBackend(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/head":
			w.Header().Set("Content-Length", "1234")
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/304":
			w.WriteHeader(http.StatusNotModified)
		default:
			io.WriteString(w, "plain")
		}
	}, UpstreamOptions{})
	for _, tc := range []struct {
		method, path string
		status       int
		length       int64
		body         string
	}{
		{"HEAD", "/head", 200, 1234, ""},
		{"GET", "/204", 204, 0, ""},
		{"GET", "/304", 304, 0, ""},
		{"GET", "/plain", 200, 5, "plain"},
	} {
		t.Run(tc.method+tc.path, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, e.url(tc.path), nil)
			resp, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != tc.status || string(b) != tc.body {
				t.Errorf("got %d %q %v, want %d %q", resp.StatusCode, b, err, tc.status, tc.body)
			}
			if tc.status == 200 && resp.ContentLength != tc.length {
				t.Errorf("ContentLength = %d, want %d", resp.ContentLength, tc.length)
			}
		})
	}
	if got := e.u.Dials(); got != 1 {
		t.Errorf("Dials() = %d, want 1 (bodyless responses keep the connection)", got)
	}
}

func TestUpstreamConnectionClose(t *testing.T) {
	e := fwdtNewBackend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/close" {
			w.Header().Set("Connection", "close")
		}
		io.WriteString(w, "ok")
	}, UpstreamOptions{})
	c := e.srv.Client()
	for i := range 2 {
		if status, body, _ := fwdtGet(t, c, e.url("/close")); status != 200 || body != "ok" {
			t.Fatalf("request %d: got %d %q", i, status, body)
		}
		e.result(t)
	}
	if got, idle := e.u.Dials(), e.u.IdleCount(); got != 2 || idle != 0 {
		t.Errorf("after 2 responses with Connection: close: Dials() = %d, IdleCount() = %d; want 2, 0", got, idle)
	}
	// A visitor closing its own connection does not concern the upstream
	// connection, which stays pooled.
	req, _ := http.NewRequest("GET", e.url("/keep"), nil)
	req.Close = true
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	e.result(t)
	if idle := e.u.IdleCount(); idle != 1 {
		t.Errorf("after a visitor's Connection: close: IdleCount() = %d, want 1", idle)
	}
}

func TestUpstreamStreaming(t *testing.T) {
	release := make(chan struct{})
	var released atomic.Bool
	e := fwdtNewBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: 1\n\n")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "data: 2\n\n")
	}, UpstreamOptions{})
	watchdog := time.AfterFunc(3*time.Second, func() {
		released.Store(true)
		close(release)
	})
	resp, err := e.srv.Client().Get(e.url("/events"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "data: 1\n" {
		t.Fatalf("first event: got %q, %v", line, err)
	}
	if watchdog.Stop() {
		close(release)
	} else if released.Load() {
		t.Fatal("first event arrived only after the stream ended: the edge buffered it")
	}
	rest, _ := io.ReadAll(br)
	if want := "\ndata: 2\n\n"; string(rest) != want {
		t.Errorf("rest: got %q, want %q", rest, want)
	}
}

func TestUpstreamWebSocket(t *testing.T) {
	upgrader := websocket.Upgrader{}
	e := fwdtNewBackend(t, func(w http.ResponseWriter, r *http.Request) {
		c, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		c.WriteMessage(websocket.TextMessage, []byte("hello"))
		for {
			typ, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(typ, msg); err != nil {
				return
			}
		}
	}, UpstreamOptions{})
	ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(e.url("/ws"), "http"), nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if resp.StatusCode != 101 {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	if _, msg, err := ws.ReadMessage(); err != nil || string(msg) != "hello" {
		t.Fatalf("greeting: got %q, %v", msg, err)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 8<<10)
	for i, msg := range [][]byte{[]byte("one"), big, []byte("three")} {
		typ := websocket.TextMessage
		if len(msg) > 100 {
			typ = websocket.BinaryMessage
		}
		if err := ws.WriteMessage(typ, msg); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		gotTyp, got, err := ws.ReadMessage()
		if err != nil || gotTyp != typ || !bytes.Equal(got, msg) {
			t.Fatalf("echo %d: got type %d, %d bytes, %v; want type %d, %d bytes", i, gotTyp, len(got), err, typ, len(msg))
		}
	}
	ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	ws.Close()
	res := e.result(t)
	if res.status != 101 {
		t.Errorf("Forward returned status %d, want 101", res.status)
	}
	if idle := e.u.IdleCount(); idle != 0 {
		t.Errorf("IdleCount() = %d after an upgrade, want 0", idle)
	}
}

func TestUpstreamBackendDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	e := fwdtNewEdge(t, fwdtTCPDial(addr), UpstreamOptions{})
	status, body, h := fwdtGet(t, e.srv.Client(), e.url("/"))
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
	tcp := fwdtTCPDial(backend.Listener.Addr().String())
	// A tunnel.DialFunc that ignores its context, like a stuck channel open.
	dial := func(_ context.Context, v netip.AddrPort) (tunnel.Conn, error) {
		<-release
		return tcp(context.Background(), v)
	}
	e := fwdtNewEdge(t, dial, UpstreamOptions{DialTimeout: 50 * time.Millisecond})
	start := time.Now()
	status, _, h := fwdtGet(t, e.srv.Client(), e.url("/"))
	if status != 502 || h.Get("X-Sshgress-Error") != "ERR_SSHGRESS_UPSTREAM" {
		t.Errorf("got %d %s, want 502 ERR_SSHGRESS_UPSTREAM", status, h.Get("X-Sshgress-Error"))
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("502 took %v, want about the 50ms dial timeout", d)
	}
	close(release)
	// The late connection is pooled for the next visitor.
	fwdtWaitFor(t, "the late connection to be pooled", func() bool { return e.u.IdleCount() == 1 })
}

func TestUpstreamBadResponses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply string
		code  string
	}{
		{"tls alert", "\x15\x03\x01\x00\x02\x02\x50", "ERR_SSHGRESS_BAD_RESPONSE"},
		{"closed without answer", "", "ERR_SSHGRESS_UPSTREAM"},
		{"truncated head", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", "ERR_SSHGRESS_UPSTREAM"},
		{"101 without upgrade request", "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", "ERR_SSHGRESS_BAD_RESPONSE"},
		{"status code 099", "HTTP/1.1 099 Odd\r\n\r\n", "ERR_SSHGRESS_BAD_RESPONSE"},
		{"head too large", "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-Big: "+strings.Repeat("a", 1000)+"\r\n", 1100) + "\r\n", "ERR_SSHGRESS_BAD_RESPONSE"},
		{"too many 1xx", strings.Repeat("HTTP/1.1 102 Processing\r\n\r\n", 20) + "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "ERR_SSHGRESS_BAD_RESPONSE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := fwdtRawBackend(t, func(c net.Conn, br *bufio.Reader) {
				if fwdtReadHead(br) == nil {
					io.WriteString(c, tc.reply)
				}
			})
			e := fwdtNewEdge(t, fwdtTCPDial(addr), UpstreamOptions{})
			status, _, h := fwdtGet(t, e.srv.Client(), e.url("/"))
			if status != 502 || h.Get("X-Sshgress-Error") != tc.code {
				t.Errorf("got %d %s, want 502 %s", status, h.Get("X-Sshgress-Error"), tc.code)
			}
		})
	}
}

func TestUpstreamRetryStaleConn(t *testing.T) {
	// The backend answers one request per connection, announcing
	// keep-alive, then closes: every pooled connection goes stale.
	addr := fwdtRawBackend(t, func(c net.Conn, br *bufio.Reader) {
		if fwdtReadHead(br) == nil {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	e := fwdtNewEdge(t, fwdtTCPDial(addr), UpstreamOptions{})
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

func TestUpstreamBackendDiesMidBody(t *testing.T) {
	for _, tc := range []struct{ name, head, part string }{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", strings.Repeat("a", 1000)},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "3e8\r\n" + strings.Repeat("a", 1000) + "\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := fwdtRawBackend(t, func(c net.Conn, br *bufio.Reader) {
				if fwdtReadHead(br) == nil {
					io.WriteString(c, tc.head+tc.part)
				}
			})
			e := fwdtNewEdge(t, fwdtTCPDial(addr), UpstreamOptions{})
			resp, err := e.srv.Client().Get(e.url("/"))
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil {
				t.Errorf("visitor read a complete-looking response of %d bytes; want a read error", len(b))
			}
			if e.u.IdleCount() != 0 {
				t.Errorf("IdleCount() = %d, want 0", e.u.IdleCount())
			}
		})
	}
}

func TestUpstreamVisitorDisconnect(t *testing.T) {
	for _, tc := range []struct {
		name    string
		midBody bool
	}{
		{"waiting for the response head", false},
		{"in the response body", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			freed := make(chan struct{}, 1)
			e := fwdtNewBackend(t, func(w http.ResponseWriter, r *http.Request) {
				if tc.midBody {
					io.WriteString(w, "part")
					w.(http.Flusher).Flush()
				}
				select {
				case <-r.Context().Done():
					freed <- struct{}{}
				case <-time.After(5 * time.Second):
				}
			}, UpstreamOptions{})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", e.url("/poll"), nil)
			if tc.midBody {
				resp, err := e.srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				part := make([]byte, 4)
				if _, err := io.ReadFull(resp.Body, part); err != nil || string(part) != "part" {
					t.Fatalf("got %q, %v", part, err)
				}
				cancel()
				resp.Body.Close()
			} else {
				time.AfterFunc(50*time.Millisecond, cancel)
				if _, err := e.srv.Client().Do(req); err == nil {
					t.Fatal("request succeeded, want it canceled")
				}
			}
			select {
			case <-freed:
			case <-time.After(4 * time.Second):
				t.Fatal("the upstream request was not canceled after the visitor left")
			}
			res := e.result(t)
			if res.err == nil {
				t.Errorf("Forward returned %d, nil; want an error", res.status)
			}
			if idle := e.u.IdleCount(); idle != 0 {
				t.Errorf("IdleCount() = %d, want 0", idle)
			}
		})
	}
}

func TestUpstreamIdleTimeout(t *testing.T) {
	e := fwdtNewBackend(t, func(w http.ResponseWriter, r *http.Request) {}, UpstreamOptions{IdleTimeout: 50 * time.Millisecond})
	fwdtGet(t, e.srv.Client(), e.url("/"))
	e.result(t)
	// The sweep timer closes the idle connection with no further traffic.
	fwdtWaitFor(t, "the idle connection to expire", func() bool { return e.u.IdleCount() == 0 })
	fwdtGet(t, e.srv.Client(), e.url("/"))
	e.result(t)
	if got := e.u.Dials(); got != 2 {
		t.Errorf("Dials() = %d, want 2", got)
	}
}

func TestUpstreamMaxIdle(t *testing.T) {
	const n = 6
	var arrived atomic.Int32
	all := make(chan struct{})
	e := fwdtNewBackend(t, func(w http.ResponseWriter, r *http.Request) {
		if arrived.Add(1) == n {
			close(all)
		}
		select {
		case <-all:
		case <-time.After(5 * time.Second):
		}
	}, UpstreamOptions{MaxIdle: 2})
	c := e.srv.Client()
	c.Transport.(*http.Transport).MaxIdleConnsPerHost = n
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fwdtGet(t, c, e.url("/"))
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

func TestUpstreamClose(t *testing.T) {
	e := fwdtNewBackend(t, func(w http.ResponseWriter, r *http.Request) {}, UpstreamOptions{})
	fwdtGet(t, e.srv.Client(), e.url("/"))
	e.result(t)
	e.u.Close()
	e.u.Close()
	if idle := e.u.IdleCount(); idle != 0 {
		t.Errorf("IdleCount() = %d after Close, want 0", idle)
	}
	status, _, h := fwdtGet(t, e.srv.Client(), e.url("/"))
	if status != 502 || h.Get("X-Sshgress-Error") != "ERR_SSHGRESS_UPSTREAM" {
		t.Errorf("after Close: got %d %s, want 502 ERR_SSHGRESS_UPSTREAM", status, h.Get("X-Sshgress-Error"))
	}
	if got := e.u.Dials(); got != 1 {
		t.Errorf("Dials() = %d, want 1 (no dial after Close)", got)
	}
}

func TestUpstreamConnectRefused(t *testing.T) {
	e := fwdtNewBackend(t, func(w http.ResponseWriter, r *http.Request) {
		t.Error("CONNECT reached the upstream")
	}, UpstreamOptions{})
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

func TestUpstreamRequestTarget(t *testing.T) {
	seen := make(chan string, 1)
	addr := fwdtRawBackend(t, func(c net.Conn, br *bufio.Reader) {
		line, _ := br.ReadString('\n')
		seen <- line
		if fwdtReadHead(br) == nil {
			io.WriteString(c, "HTTP/1.1 204 No Content\r\n\r\n")
		}
	})
	u := NewUpstream(fwdtTCPDial(addr), UpstreamOptions{})
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
			w := &fwdtDiscardWriter{h: http.Header{}}
			if status, err := u.Forward(w, r, netip.AddrPort{}); status != 204 || err != nil {
				t.Fatalf("Forward: %d, %v", status, err)
			}
			if got := <-seen; got != tc.want {
				t.Errorf("request line %q, want %q", got, tc.want)
			}
		})
	}
}

// fwdtDiscardWriter is a minimal http.ResponseWriter that discards the body.
type fwdtDiscardWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *fwdtDiscardWriter) Header() http.Header { return w.h }
func (w *fwdtDiscardWriter) WriteHeader(code int) {
	if code >= 200 || code == 101 {
		w.status = code
	}
}
func (w *fwdtDiscardWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	return len(p), nil
}

func BenchmarkForwardGet1K(b *testing.B) {
	reply := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nDate: Mon, 02 Jan 2006 15:04:05 GMT\r\nContent-Length: 1024\r\n\r\n" + strings.Repeat("x", 1024))
	// An allocation-free backend, so allocs/op are the edge's.
	addr := fwdtRawBackend(b, func(c net.Conn, br *bufio.Reader) {
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			if len(line) == 2 {
				if _, err := c.Write(reply); err != nil {
					return
				}
			}
		}
	})
	u := NewUpstream(func(ctx context.Context, _ netip.AddrPort) (tunnel.Conn, error) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return nil, err
		}
		return c.(*net.TCPConn), nil
	}, UpstreamOptions{})
	defer u.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := (&http.Request{
		Method:     "GET",
		URL:        &url.URL{Path: "/app.js"},
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Host:       "k3v9xq2m.tunnel.example.com",
		Header: http.Header{
			"User-Agent":        {"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"},
			"Accept":            {"*/*"},
			"Accept-Encoding":   {"gzip, deflate, br"},
			"Accept-Language":   {"en-US,en;q=0.5"},
			"X-Forwarded-For":   {"203.0.113.7"},
			"X-Forwarded-Proto": {"https"},
			"X-Forwarded-Host":  {"k3v9xq2m.tunnel.example.com"},
		},
		Body: http.NoBody,
	}).WithContext(ctx)
	visitor := netip.MustParseAddrPort("203.0.113.7:51234")
	w := &fwdtDiscardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.SetBytes(1024)
	for b.Loop() {
		clear(w.h)
		w.n = 0
		status, err := u.Forward(w, r, visitor)
		if status != 200 || err != nil || w.n != 1024 {
			b.Fatalf("Forward: %d, %v, %d bytes", status, err, w.n)
		}
	}
	if d := u.Dials(); d != 1 {
		b.Errorf("Dials() = %d, want 1", d)
	}
}

// fwdtFakeConn is a tunnel.Conn that only records Close.
type fwdtFakeConn struct{ closed atomic.Bool }

func (c *fwdtFakeConn) Read([]byte) (int, error)    { return 0, io.EOF }
func (c *fwdtFakeConn) Write(p []byte) (int, error) { return len(p), nil }
func (c *fwdtFakeConn) Close() error                { c.closed.Store(true); return nil }
func (c *fwdtFakeConn) CloseWrite() error           { return nil }

func TestUpstreamDropStale(t *testing.T) {
	u := NewUpstream(nil, UpstreamOptions{})
	defer u.Close()
	var conns []*fwdtFakeConn
	var pcs []*fwdConn
	for range 3 {
		c := &fwdtFakeConn{}
		pc := fwdNewConn(c)
		conns = append(conns, c)
		pcs = append(pcs, pc)
		u.fwdPut(pc)
		time.Sleep(time.Millisecond)
	}
	// The middle connection was found stale: it and the older one go.
	u.fwdDropStale(pcs[1].idleSince)
	if got := u.IdleCount(); got != 1 {
		t.Errorf("IdleCount() = %d, want 1", got)
	}
	for i, want := range []bool{true, true, false} {
		if got := conns[i].closed.Load(); got != want {
			t.Errorf("conn %d closed = %v, want %v", i, got, want)
		}
	}
}

func TestUpstreamHTTP2Visitor(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/echo":
			http.NewResponseController(w).EnableFullDuplex()
			w.Header().Set("Trailer", "X-Te")
			io.Copy(w, r.Body)
			w.Header().Set("X-Te", r.TransferEncoding[0])
		case "/die":
			hj, _, _ := http.NewResponseController(w).Hijack()
			io.WriteString(hj, "HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\npartial")
			hj.Close()
		default:
			io.WriteString(w, "hi")
		}
	}))
	defer backend.Close()
	u := NewUpstream(fwdtTCPDial(backend.Listener.Addr().String()), UpstreamOptions{})
	defer u.Close()
	edge := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		visitor, _ := netip.ParseAddrPort(r.RemoteAddr)
		u.Forward(w, r, visitor)
	}))
	edge.EnableHTTP2 = true
	edge.StartTLS()
	defer edge.Close()
	c := edge.Client()

	t.Run("GET", func(t *testing.T) {
		resp, err := c.Get(edge.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 || string(b) != "hi" {
			t.Errorf("got %s %q, want HTTP/2 \"hi\"", resp.Proto, b)
		}
	})
	t.Run("streamed body of unknown length", func(t *testing.T) {
		data := bytes.Repeat([]byte("0123456789"), 100_000)
		req, _ := http.NewRequest("POST", edge.URL+"/echo", io.MultiReader(bytes.NewReader(data)))
		req.ContentLength = -1
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(b, data) {
			t.Errorf("echo: got %d bytes, %v; want %d", len(b), err, len(data))
		}
		if got := resp.Trailer.Get("X-Te"); got != "chunked" {
			t.Errorf("upstream saw transfer encoding %q, want chunked", got)
		}
	})
	t.Run("upstream dies mid-body", func(t *testing.T) {
		resp, err := c.Get(edge.URL + "/die")
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			t.Errorf("visitor read a complete-looking response %q; want a stream error", b)
		}
	})
}

func TestUpstreamEarlyResponse(t *testing.T) {
	// The upstream rejects the request from its head and never reads the
	// body; the visitor is still uploading.
	hold := make(chan struct{})
	addr := fwdtRawBackend(t, func(c net.Conn, br *bufio.Reader) {
		if fwdtReadHead(br) == nil {
			io.WriteString(c, "HTTP/1.1 413 Content Too Large\r\nContent-Length: 3\r\n\r\nbig")
			<-hold // keep the connection open, unread
		}
	})
	defer close(hold)
	e := fwdtNewEdge(t, fwdtTCPDial(addr), UpstreamOptions{})
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() {
		pw.Write([]byte("first part of a long upload"))
		// then stall, like a slow visitor
	}()
	req, _ := http.NewRequest("POST", e.url("/upload"), pr)
	req.ContentLength = 1 << 20
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 413 || string(b) != "big" {
		t.Errorf("got %d %q, want 413 \"big\"", resp.StatusCode, b)
	}
	if res := e.result(t); res.status != 413 {
		t.Errorf("Forward returned %d, %v; want 413", res.status, res.err)
	}
	if idle := e.u.IdleCount(); idle != 0 {
		t.Errorf("IdleCount() = %d, want 0 (body not fully sent)", idle)
	}
}

// TestUpstreamSwitchWithBody: an upstream that answers 101 to a request
// with a body (which never asks to switch) is refused with a 502 while the
// visitor is still uploading.
func TestUpstreamSwitchWithBody(t *testing.T) {
	hold := make(chan struct{})
	addr := fwdtRawBackend(t, func(c net.Conn, br *bufio.Reader) {
		if fwdtReadHead(br) == nil {
			io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
			<-hold
		}
	})
	defer close(hold)
	e := fwdtNewEdge(t, fwdtTCPDial(addr), UpstreamOptions{})
	// A raw visitor that sends the start of the body, then stalls with the
	// connection open.
	c, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\nthe start of a body that then stalls")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || !resp.Close {
		t.Errorf("visitor got %d (Connection: close %v), want 502 with Connection: close", resp.StatusCode, resp.Close)
	}
	if res := e.result(t); res.status != http.StatusBadGateway {
		t.Errorf("Forward returned %d, %v; want 502", res.status, res.err)
	}
}

// TestUpstreamBurstIdle: after a burst of concurrent requests, the idle
// connections beyond KeepIdle close after BurstIdleTimeout, and the
// KeepIdle most recent stay for IdleTimeout.
func TestUpstreamBurstIdle(t *testing.T) {
	const burst = 6
	var arrived sync.WaitGroup
	arrived.Add(burst)
	e := fwdtNewBackend(t, func(w http.ResponseWriter, r *http.Request) {
		arrived.Done()
		arrived.Wait() // all requests in flight at once: one connection each
	}, UpstreamOptions{KeepIdle: 2, BurstIdleTimeout: 100 * time.Millisecond, IdleTimeout: time.Minute})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: burst}}
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	for range burst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fwdtGet(t, client, e.url("/"))
		}()
	}
	wg.Wait()
	for range burst {
		e.result(t)
	}
	if got := e.u.Dials(); got != burst {
		t.Fatalf("Dials() = %d, want %d", got, burst)
	}
	fwdtWaitFor(t, "the burst's extra idle connections to close", func() bool { return e.u.IdleCount() == 2 })
	time.Sleep(300 * time.Millisecond)
	if got := e.u.IdleCount(); got != 2 {
		t.Errorf("IdleCount() = %d after the burst timeout, want the 2 kept for IdleTimeout", got)
	}
}

// TestUpstreamMalformedBodyIsTheVisitors: bad chunked framing from the
// visitor is answered 400 ERR_SSHGRESS_BAD_BODY and Forward reports 400
// (not the upstream's 502); the upstream never gets a complete request.
func TestUpstreamMalformedBodyIsTheVisitors(t *testing.T) {
	var complete atomic.Int64
	e := fwdtNewBackend(t, func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err == nil {
			complete.Add(1)
		}
	}, UpstreamOptions{})
	for _, body := range []string{
		"zz\r\nhello\r\n0\r\n\r\n",
		"5\nhello\n0\n\n",
		"fffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
		"5\r\nhello\r\nnope\r\n",
	} {
		c, err := net.Dial("tcp", e.srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"+body)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("body %q: %v", body, err)
		}
		resp.Body.Close()
		c.Close()
		if resp.StatusCode != 400 || resp.Header.Get("X-Sshgress-Error") != "ERR_SSHGRESS_BAD_BODY" || !resp.Close {
			t.Errorf("body %q: got %d %s (Connection: close %v), want 400 ERR_SSHGRESS_BAD_BODY closing", body, resp.StatusCode, resp.Header.Get("X-Sshgress-Error"), resp.Close)
		}
		if res := e.result(t); res.status != 400 || res.err == nil {
			t.Errorf("body %q: Forward returned %d, %v; want 400 and an error", body, res.status, res.err)
		}
	}
	if n := complete.Load(); n != 0 {
		t.Errorf("upstream got %d complete requests, want 0", n)
	}
}
