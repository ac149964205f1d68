package forward_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/netip"
	"net/textproto"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/httpedge/forward"
)

func TestUpstreamResponseTrailers(t *testing.T) {
	e := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Announced")
		io.WriteString(w, "body")
		w.Header().Set("X-Announced", "1")
		w.Header().Set(http.TrailerPrefix+"X-Late", "2")
	}, forward.Options{})
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
	e := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</app.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		w.Header().Set("X-Final", "1")
		io.WriteString(w, "ok")
	}, forward.Options{})
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
	e := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
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
	}, forward.Options{})
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
	e := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/close" {
			w.Header().Set("Connection", "close")
		}
		io.WriteString(w, "ok")
	}, forward.Options{})
	c := e.srv.Client()
	for i := range 2 {
		if status, body, _ := get(t, c, e.url("/close")); status != 200 || body != "ok" {
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
	e := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: 1\n\n")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "data: 2\n\n")
	}, forward.Options{})
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
			addr := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
				if readHead(br) == nil {
					io.WriteString(c, tc.reply)
				}
			})
			e := newTestEdge(t, tcpDial(addr), forward.Options{})
			status, _, h := get(t, e.srv.Client(), e.url("/"))
			if status != 502 || h.Get("X-Sshgress-Error") != tc.code {
				t.Errorf("got %d %s, want 502 %s", status, h.Get("X-Sshgress-Error"), tc.code)
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
			addr := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
				if readHead(br) == nil {
					io.WriteString(c, tc.head+tc.part)
				}
			})
			e := newTestEdge(t, tcpDial(addr), forward.Options{})
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
			e := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
				if tc.midBody {
					io.WriteString(w, "part")
					w.(http.Flusher).Flush()
				}
				select {
				case <-r.Context().Done():
					freed <- struct{}{}
				case <-time.After(5 * time.Second):
				}
			}, forward.Options{})
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
	u := forward.NewUpstream(tcpDial(backend.Listener.Addr().String()), forward.Options{})
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
