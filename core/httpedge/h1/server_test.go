package h1

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// serve starts a Server with h on a loopback listener and returns its
// address; the server is shut down when the test ends.
func serve(t *testing.T, h http.HandlerFunc, configure ...func(*Server)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Handler: h}
	for _, f := range configure {
		f(s)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go s.ServeConn(c, nil)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return l.Addr().String()
}

// exchange sends raw on a new connection, half-closes it unless keep,
// and returns everything the server sends until it closes (or 5 s).
func exchange(t *testing.T, addr, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	out, _ := io.ReadAll(c)
	return string(out)
}

func echoHandler(calls *atomic.Int32) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Path", r.URL.Path)
		w.Write([]byte("body=" + string(b)))
	}
}

// TestRefusedHeads: each ambiguous or malformed head is refused with its
// status before the handler (the path to the upstream) runs.
func TestRefusedHeads(t *testing.T) {
	var calls atomic.Int32
	addr := serve(t, echoHandler(&calls), func(s *Server) { s.MaxHeaderBytes = 1 << 10 })
	big := strings.Repeat("a", 8<<10)
	tests := []struct {
		name, raw string
		status    string
		reason    string
	}{
		{"CL and TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "400", "both Content-Length and Transfer-Encoding"},
		{"TE and CL, mixed case", "POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding: chunked\r\nCONTENT-LENGTH: 5\r\n\r\n0\r\n\r\n", "400", "both Content-Length and Transfer-Encoding"},
		{"duplicate CL, same value", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", "400", "more than one Content-Length"},
		{"duplicate CL, other values", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", "400", "more than one Content-Length"},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: one\r\n two\r\n\r\n", "400", "obs-fold"},
		{"obs-fold with tab", "GET / HTTP/1.1\r\nHost: a\r\nX-A: one\r\n\ttwo\r\n\r\n", "400", "obs-fold"},
		{"bare LF", "GET / HTTP/1.1\nHost: a\n\n", "400", "LF without CR"},
		{"bare LF in one header", "GET / HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n", "400", "LF without CR"},
		{"bare CR", "GET / HTTP/1.1\r\nHost: a\rX-A: b\r\n\r\n", "400", "CR not followed by LF"},
		{"NUL in a value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x00c\r\n\r\n", "400", "NUL"},
		{"space before colon", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\nhello", "400", "invalid header name"},
		{"invalid header name", "GET / HTTP/1.1\r\nHost: a\r\nX(A): b\r\n\r\n", "400", "malformed request"},
		{"control in a value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x01c\r\n\r\n", "400", "malformed"},
		{"no Host in 1.1", "GET / HTTP/1.1\r\nX-A: b\r\n\r\n", "400", "missing required Host"},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "400", "too many Host"},
		{"bad Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", "400", "malformed Host"},
		{"oversized head", "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + big + "\r\n\r\n", "431", "too large"},
		{"unknown transfer coding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", "501", "transfer encoding"},
		{"chunked not last", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", "501", "transfer encoding"},
		{"bad Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", "400", "malformed request"},
		{"Expect other than 100-continue", "GET / HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\n\r\n", "417", "Expect"},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "505", "version"},
		{"HTTP/3.0", "GET / HTTP/3.0\r\nHost: a\r\n\r\n", "505", "version"},
		{"garbage", "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n", "400", "400 Bad Request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := calls.Load()
			out := exchange(t, addr, tt.raw)
			if !strings.HasPrefix(out, "HTTP/1.1 "+tt.status+" ") {
				t.Fatalf("got %q, want status %s", firstLine(out), tt.status)
			}
			if !strings.Contains(out, tt.reason) {
				t.Errorf("response %q does not say %q", out, tt.reason)
			}
			if !strings.Contains(out, "Connection: close") {
				t.Errorf("response %q does not close the connection", out)
			}
			if calls.Load() != before {
				t.Errorf("the handler ran for a refused request")
			}
		})
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\r\n")
	return line
}

// TestPipelinedAndKeptAlive: requests sent at once are answered in order
// on one connection, bodies framed by Content-Length and chunking.
func TestPipelinedAndKeptAlive(t *testing.T) {
	var calls atomic.Int32
	addr := serve(t, echoHandler(&calls))
	raw := "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n" +
		"POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello" +
		"POST /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n" +
		"HEAD /4 HTTP/1.1\r\nHost: a\r\n\r\n" +
		"GET /5 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" +
		"GET /6 HTTP/1.1\r\nHost: a\r\n\r\n"
	out := exchange(t, addr, raw)
	br := bufio.NewReader(strings.NewReader(out))
	want := []struct{ method, path, body string }{{"GET", "/1", "body="}, {"POST", "/2", "body=hello"}, {"POST", "/3", "body=abcde"}, {"HEAD", "/4", ""}, {"GET", "/5", "body="}}
	for _, w := range want {
		resp, err := http.ReadResponse(br, &http.Request{Method: w.method})
		if err != nil {
			t.Fatalf("%s: %v (output %q)", w.path, err, out)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || resp.Header.Get("X-Path") != w.path || string(b) != w.body {
			t.Errorf("%s: got %d %s %q, want 200 %s %q", w.path, resp.StatusCode, resp.Header.Get("X-Path"), b, w.path, w.body)
		}
		if w.method == "HEAD" && resp.ContentLength != int64(len("body=")) {
			t.Errorf("HEAD: Content-Length %d, want the GET's %d", resp.ContentLength, len("body="))
		}
	}
	if rest, _ := io.ReadAll(br); len(rest) != 0 {
		t.Errorf("after Connection: close the server still answered: %q", rest)
	}
	if calls.Load() != 5 {
		t.Errorf("handler ran %d times, want 5 (the sixth request follows Connection: close)", calls.Load())
	}
}

// TestResponseFraming: short unflushed bodies get Content-Length, flushed
// ones chunking with trailers; HTTP/1.0 gets a close-delimited body.
func TestResponseFraming(t *testing.T) {
	addr := serve(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/short":
			w.Write([]byte("hi"))
		case "/flushed":
			w.Header().Set("Trailer", "X-Sum")
			w.Write([]byte("part1"))
			w.(http.Flusher).Flush()
			w.Write([]byte("part2"))
			w.Header().Set("X-Sum", "42")
			w.Header().Set(http.TrailerPrefix+"X-Late", "yes")
		case "/early-hints":
			w.Header().Set("Link", "</a.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			delete(w.Header(), "Link")
			w.WriteHeader(http.StatusNoContent)
		case "/cl-short":
			w.Header().Set("Content-Length", "10")
			w.Write([]byte("abc"))
		}
	})
	t.Run("short body", func(t *testing.T) {
		out := exchange(t, addr, "GET /short HTTP/1.1\r\nHost: a\r\n\r\n")
		if !strings.Contains(out, "Content-Length: 2\r\n") || strings.Contains(out, "chunked") || !strings.HasSuffix(out, "\r\n\r\nhi") {
			t.Fatalf("got %q", out)
		}
		if !strings.Contains(out, "Date: ") {
			t.Errorf("no Date header in %q", out)
		}
	})
	t.Run("flushed with trailers", func(t *testing.T) {
		out := exchange(t, addr, "GET /flushed HTTP/1.1\r\nHost: a\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(out)), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if string(b) != "part1part2" || resp.Trailer.Get("X-Sum") != "42" || resp.Trailer.Get("X-Late") != "yes" {
			t.Fatalf("body %q trailers %v (raw %q)", b, resp.Trailer, out)
		}
	})
	t.Run("HTTP/1.0", func(t *testing.T) {
		out := exchange(t, addr, "GET /flushed HTTP/1.0\r\nHost: a\r\n\r\n")
		if !strings.HasPrefix(out, "HTTP/1.0 200 ") || strings.Contains(out, "chunked") || !strings.HasSuffix(out, "part1part2") || !strings.Contains(out, "Connection: close") {
			t.Fatalf("got %q", out)
		}
	})
	t.Run("1xx then 204", func(t *testing.T) {
		out := exchange(t, addr, "GET /early-hints HTTP/1.1\r\nHost: a\r\n\r\n")
		if !strings.HasPrefix(out, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 204 No Content\r\n") {
			t.Fatalf("got %q", out)
		}
		if strings.Count(out, "Link:") != 1 || strings.Contains(out, "Content-Length") {
			t.Errorf("got %q", out)
		}
	})
	t.Run("body shorter than its Content-Length closes", func(t *testing.T) {
		out := exchange(t, addr, "GET /cl-short HTTP/1.1\r\nHost: a\r\n\r\nGET /short HTTP/1.1\r\nHost: a\r\n\r\n")
		if !strings.HasSuffix(out, "abc") || strings.Count(out, "HTTP/1.1 200") != 1 {
			t.Fatalf("got %q, want the cut response and no second one", out)
		}
	})
}

// TestExpectContinue: 100 Continue is sent when the handler first reads
// the body, and not at all when it answers without reading.
func TestExpectContinue(t *testing.T) {
	addr := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/read" {
			b, _ := io.ReadAll(r.Body)
			w.Write(b)
			return
		}
		w.WriteHeader(http.StatusForbidden)
	})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	io.WriteString(c, "POST /read HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	line, err := br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("got %q, %v; want 100 Continue before the body is sent", line, err)
	}
	br.ReadString('\n')
	io.WriteString(c, "hello")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(resp.Body); string(b) != "hello" {
		t.Fatalf("got %q", b)
	}

	out := exchange(t, addr, "POST /deny HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	if !strings.HasPrefix(out, "HTTP/1.1 403 ") || strings.Contains(out, "100 Continue") || !strings.Contains(out, "Connection: close") {
		t.Fatalf("got %q, want 403 with no 100 and the connection closed", out)
	}
}

// TestVisitorGoneCancels: a request still running when its visitor closes
// the connection sees its context canceled (the watcher).
func TestVisitorGoneCancels(t *testing.T) {
	got := make(chan error, 1)
	addr := serve(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			got <- context.Cause(r.Context())
		case <-time.After(10 * time.Second):
			got <- errors.New("not canceled")
		}
	})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	time.Sleep(2 * WatchDelay)
	c.Close()
	if err := <-got; !errors.Is(err, errVisitorGone) {
		t.Fatalf("context ended with %v, want %v", err, errVisitorGone)
	}
}

// TestWatcherKeepsPipelinedByte: the byte a watcher reads while a slow
// request runs is the start of the next request, which is served intact.
func TestWatcherKeepsPipelinedByte(t *testing.T) {
	addr := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(3 * WatchDelay)
		}
		w.Write([]byte(r.URL.Path))
	})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	time.Sleep(2 * WatchDelay) // the watcher is reading now
	io.WriteString(c, "GET /next HTTP/1.1\r\nHost: a\r\n\r\n")
	br := bufio.NewReader(c)
	for _, want := range []string{"/slow", "/next"} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := io.ReadAll(resp.Body); string(b) != want {
			t.Fatalf("got %q, want %q", b, want)
		}
	}
}

// TestHijack: the handler gets the connection and the bytes already read.
func TestHijack(t *testing.T) {
	addr := serve(t, func(w http.ResponseWriter, r *http.Request) {
		c, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		rw.Flush()
		line, _ := rw.ReadString('\n')
		rw.WriteString("echo " + line)
		rw.Flush()
	})
	out := exchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nping\n")
	if !strings.HasPrefix(out, "HTTP/1.1 101 ") || !strings.HasSuffix(out, "\r\n\r\necho ping\n") {
		t.Fatalf("got %q", out)
	}
}

// TestTimeouts: a new connection may wait IdleTimeout for its first byte;
// a head then gets ReadHeaderTimeout; both end the connection silently.
func TestTimeouts(t *testing.T) {
	addr := serve(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }, func(s *Server) {
		s.IdleTimeout = 2 * time.Second
		s.ReadHeaderTimeout = 300 * time.Millisecond
	})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	time.Sleep(600 * time.Millisecond) // longer than the header timeout
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("a connection idle for less than IdleTimeout was closed: %v", err)
	}
	resp.Body.Close()

	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	slow.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(slow, "GET / HTTP/1.1\r\n")
	start := time.Now()
	out, _ := io.ReadAll(slow)
	if len(out) != 0 || time.Since(start) > 3*time.Second {
		t.Fatalf("an unfinished head got %q after %v, want a silent close at the header timeout", out, time.Since(start))
	}
}

// TestShutdownWaitsForActive: Shutdown closes idle connections at once and
// waits for a running request, whose response then closes its connection.
func TestShutdownWaitsForActive(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	release := make(chan struct{})
	started := make(chan struct{})
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		w.Write([]byte("done"))
	})}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go s.ServeConn(c, nil)
		}
	}()
	idle, _ := net.Dial("tcp", l.Addr().String())
	defer idle.Close()
	busy, _ := net.Dial("tcp", l.Addr().String())
	defer busy.Close()
	busy.SetDeadline(time.Now().Add(5 * time.Second))
	idle.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(busy, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	<-started
	time.Sleep(50 * time.Millisecond) // the idle connection is being served
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	if _, err := idle.Read(make([]byte, 1)); err == nil {
		t.Fatal("the idle connection got bytes, want it closed")
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v with a request running", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	out, _ := io.ReadAll(busy)
	if !strings.Contains(string(out), "Connection: close") || !strings.HasSuffix(string(out), "done") {
		t.Fatalf("got %q", out)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
