package e2e_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sshgress/sshgress/e2e"
)

// rawBackend is a local service behind a tunnel that logs the exact bytes
// of every request it gets (head, body and trailers) and answers 200 "ok".
type rawBackend struct {
	Port     string
	requests chan string
	conns    atomic.Int32 // connections accepted (channels the edge opened)
}

func newRawBackend(t *testing.T) *rawBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &rawBackend{requests: make(chan string, 64)}
	_, b.Port, _ = net.SplitHostPort(ln.Addr().String())
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.conns.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				b.serve(c)
			}()
		}
	}()
	return b
}

func (b *rawBackend) serve(c net.Conn) {
	var raw bytes.Buffer
	br := bufio.NewReader(io.TeeReader(c, &raw))
	for {
		c.SetDeadline(time.Now().Add(30 * time.Second))
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body) // reads the trailers too
		// What the reader buffered past this request belongs to the next.
		n := raw.Len() - br.Buffered()
		select {
		case b.requests <- string(raw.Bytes()[:n]):
		default:
		}
		rest := append([]byte(nil), raw.Bytes()[n:]...)
		raw.Reset()
		raw.Write(rest)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	}
}

// next returns the raw bytes of the next request the backend got.
func (b *rawBackend) next(t *testing.T) string {
	t.Helper()
	select {
	case r := <-b.requests:
		return r
	case <-time.After(15 * time.Second):
		t.Fatal("the backend got no request within 15s")
		return ""
	}
}

// headerLines returns the "name: value" lines of a raw request's head and
// of its trailer section, names lowercased.
func headerLines(raw string) (head, trailer []string) {
	h, body, _ := strings.Cut(raw, "\r\n\r\n")
	lines := strings.Split(h, "\r\n")[1:]
	for _, l := range lines {
		k, v, _ := strings.Cut(l, ":")
		head = append(head, strings.ToLower(k)+": "+strings.TrimSpace(v))
	}
	// A chunked body ends "0\r\n" trailer lines "\r\n".
	if i := strings.LastIndex(body, "0\r\n"); i >= 0 {
		for _, l := range strings.Split(strings.TrimSuffix(body[i+3:], "\r\n"), "\r\n") {
			if k, v, ok := strings.Cut(l, ":"); ok {
				trailer = append(trailer, strings.ToLower(k)+": "+strings.TrimSpace(v))
			}
		}
	}
	return head, trailer
}

// spoofRequest is a chunked POST that tries every way this edge knows of to
// remove or forge the forwarding and identity headers: naming them in
// Connection, sending them, and sending them as trailers.
func spoofRequest(host string) string {
	return "POST /p HTTP/1.1\r\n" +
		"Host: " + host + "\r\n" +
		"Connection: keep-alive, X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host, Cdn-Loop, X-Secret\r\n" +
		"X-Secret: hop\r\n" +
		"X-Forwarded-For: 6.6.6.6\r\n" +
		"X-Forwarded-Proto: gopher\r\n" +
		"X-Forwarded-Host: forged.example\r\n" +
		"X-Real-IP: 6.6.6.6\r\n" +
		"Client-Ip: 6.6.6.6\r\n" +
		"True-Client-IP: 6.6.6.6\r\n" +
		"CF-Connecting-IP: 6.6.6.6\r\n" +
		"X-Original-URL: /forged-path\r\n" +
		"X-Rewrite-URL: /forged-path\r\n" +
		"X-Sshgress-User-Email: forged@example.com\r\n" +
		"Transfer-Encoding: chunked\r\n" +
		"Trailer: X-Forwarded-For, X-Sshgress-User-Email, X-Checksum\r\n" +
		"\r\n" +
		"5\r\nhello\r\n0\r\n" +
		"X-Forwarded-For: 6.6.6.6\r\n" +
		"X-Sshgress-User-Email: forged@example.com\r\n" +
		"X-Real-Ip: 6.6.6.6\r\n" +
		"Client-Ip: 6.6.6.6\r\n" +
		"X-Checksum: abc\r\n" +
		"\r\n"
}

// checkForwarded asserts that the upstream got exactly the edge's
// forwarding headers and none of the visitor's forgeries, in the head or
// the trailers.
func checkForwarded(t *testing.T, raw, proto, host string) {
	t.Helper()
	for _, forged := range []string{"6.6.6.6", "forged", "gopher", "hop"} {
		if strings.Contains(strings.ToLower(raw), forged) {
			t.Errorf("the upstream got the visitor's forged %q:\n%s", forged, raw)
		}
	}
	head, trailer := headerLines(raw)
	for _, want := range []string{
		"x-forwarded-for: 127.0.0.1",
		"x-forwarded-proto: " + proto,
		"x-forwarded-host: " + host,
	} {
		n := 0
		for _, l := range head {
			if l == want {
				n++
			}
		}
		if n != 1 {
			t.Errorf("upstream head has %q %d times, want once:\n%s", want, n, raw)
		}
	}
	for _, l := range head {
		if strings.HasPrefix(l, "connection:") || strings.HasPrefix(l, "keep-alive:") || strings.HasPrefix(l, "x-secret:") {
			t.Errorf("hop-by-hop header reached the upstream: %q", l)
		}
	}
	if strings.Join(trailer, "|") != "x-checksum: abc" {
		t.Errorf("upstream trailers = %q, want only the harmless x-checksum: abc", trailer)
	}
}

// TestForwardingHeadersCannotBeForged: whatever a visitor sends, the
// upstream gets the edge's X-Forwarded-For/-Proto/-Host once each, and no
// visitor-sent identity or client-address header, in the head or in
// trailers, on the plain port, the TLS port and over HTTP/2.
func TestForwardingHeadersCannotBeForged(t *testing.T) {
	b := newRawBackend(t)
	edge := newEdge(t, nil)
	key := e2e.NewKey(t, t.TempDir(), "id")
	s := edge.RunSSH(t, key, "-R", "fwdp:80:localhost:"+b.Port, "-R", "fwds:443:localhost:"+b.Port, "v2@127.0.0.1", "http")
	s.URLs(t, 2)
	_, httpPort, _ := net.SplitHostPort(edge.HTTPAddr().String())
	_, httpsPort, _ := net.SplitHostPort(edge.HTTPSAddr().String())
	roots := e2e.RootPool(t, edge.LocalCARoot())

	send := func(t *testing.T, c net.Conn, host string) {
		t.Helper()
		defer c.Close()
		c.SetDeadline(time.Now().Add(15 * time.Second))
		io.WriteString(c, spoofRequest(host))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d, want 200 from the backend", resp.StatusCode)
		}
	}
	t.Run("http/1.1 plain port", func(t *testing.T) {
		c, err := net.DialTimeout("tcp", edge.HTTPAddr().String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		host := "fwdp.localhost:" + httpPort
		send(t, c, host)
		checkForwarded(t, b.next(t), "http", host)
	})
	t.Run("http/1.1 tls port", func(t *testing.T) {
		c, err := edge.DialTLS("fwds.localhost", &tls.Config{RootCAs: roots, NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		host := "fwds.localhost:" + httpsPort
		send(t, c, host)
		checkForwarded(t, b.next(t), "https", host)
	})
	t.Run("http/2 tls port", func(t *testing.T) {
		// Go's HTTP/2 client refuses to send Connection-named headers
		// (and the server refuses them, RFC 9113 8.2.2); the forged
		// headers and trailers go through as HTTP/2 allows.
		host := "fwds.localhost:" + httpsPort
		pr, pw := io.Pipe()
		req, _ := http.NewRequest("POST", "https://"+host+"/p", pr)
		for _, k := range []string{"X-Forwarded-For", "X-Real-Ip", "Client-Ip", "True-Client-Ip", "Cf-Connecting-Ip"} {
			req.Header.Set(k, "6.6.6.6")
		}
		req.Header.Set("X-Forwarded-Host", "forged.example")
		req.Header.Set("X-Original-Url", "/forged-path")
		req.Header.Set("X-Sshgress-User-Email", "forged@example.com")
		req.Trailer = http.Header{"X-Forwarded-For": nil, "X-Sshgress-User-Email": nil, "X-Checksum": nil}
		go func() {
			io.WriteString(pw, "hello")
			req.Trailer.Set("X-Forwarded-For", "6.6.6.6")
			req.Trailer.Set("X-Sshgress-User-Email", "forged@example.com")
			req.Trailer.Set("X-Checksum", "abc")
			pw.Close()
		}()
		resp, err := edge.HTTPSClient(t, roots).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
			t.Fatalf("got %d over %s, want 200 over HTTP/2", resp.StatusCode, resp.Proto)
		}
		checkForwarded(t, b.next(t), "https", host)
	})
}

// TestHTTPLoopDetected: a tunnel whose -R points at the edge's own HTTP
// port answers 508 at the first turn of the loop, with a page and one
// console sentence, instead of nesting requests until a limit.
func TestHTTPLoopDetected(t *testing.T) {
	edge := newEdge(t, nil)
	key := e2e.NewKey(t, t.TempDir(), "id")
	_, httpPort, _ := net.SplitHostPort(edge.HTTPAddr().String())
	s := edge.RunSSH(t, key, "-R", "loop:80:localhost:"+httpPort, "v2@127.0.0.1", "http")
	url := s.URL(t)
	const visits = 3
	for i := range visits {
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/visit%d", url, i), nil)
		req.Header.Set("Cdn-Loop", "other-cdn") // a proxy in front of the edge
		resp, err := edge.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusLoopDetected {
			t.Fatalf("visit %d: status %d, want 508 Loop Detected; body %q", i, resp.StatusCode, body)
		}
		if !strings.Contains(string(body), "Loop detected") {
			t.Errorf("visit %d: body %q does not say it is a loop", i, body)
		}
	}
	s.WaitOutput(t, "come back to this edge", 10*time.Second)
	// Each visit is two requests on the owner's console: the visitor's,
	// and the one that came back (a loop without detection nests until a
	// limit: hundreds). Lines arrive asynchronously, so wait for them.
	looped := func() int {
		n := 0
		for _, l := range s.Stdout.Lines() {
			if strings.HasPrefix(l, "GET ") && strings.Contains(l, " 508 ") {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(10 * time.Second)
	for looped() < 2*visits && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // a runaway loop would keep adding lines
	out := s.Stdout.String()
	if n := looped(); n != 2*visits {
		t.Errorf("console shows %d requests with 508, want %d (one per visit and one per loop turn):\n%s", n, 2*visits, out)
	}
	if n := strings.Count(out, "come back to this edge"); n != 1 {
		t.Errorf("the loop sentence appears %d times, want once:\n%s", n, out)
	}
}
