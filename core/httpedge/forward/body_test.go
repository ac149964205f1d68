package forward_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/httpedge/forward"
)

func TestUpstreamLargeBody(t *testing.T) {
	data := make([]byte, 10<<20)
	rng := rand.NewChaCha8([32]byte{1})
	rng.Read(data)
	sum := sha256.Sum256(data)
	want := hex.EncodeToString(sum[:])

	e := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		// Echo while reading, and report what arrived in a trailer.
		http.NewResponseController(w).EnableFullDuplex()
		w.Header().Set("Trailer", "X-Request-Sha256")
		h := sha256.New()
		if _, err := io.Copy(w, io.TeeReader(r.Body, h)); err != nil {
			t.Errorf("backend: %v", err)
		}
		w.Header().Set("X-Request-Sha256", hex.EncodeToString(h.Sum(nil)))
	}, forward.Options{})

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

func TestUpstreamEarlyResponse(t *testing.T) {
	// The upstream rejects the request from its head and never reads the
	// body; the visitor is still uploading.
	hold := make(chan struct{})
	addr := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		if readHead(br) == nil {
			io.WriteString(c, "HTTP/1.1 413 Content Too Large\r\nContent-Length: 3\r\n\r\nbig")
			<-hold // keep the connection open, unread
		}
	})
	defer close(hold)
	e := newTestEdge(t, tcpDial(addr), forward.Options{})
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

// TestUpstreamMalformedBodyIsTheVisitors: bad chunked framing from the
// visitor is answered 400 ERR_SSHGRESS_BAD_BODY and Forward reports 400
// (not the upstream's 502); the upstream never gets a complete request.
func TestUpstreamMalformedBodyIsTheVisitors(t *testing.T) {
	var complete atomic.Int64
	e := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err == nil {
			complete.Add(1)
		}
	}, forward.Options{})
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
