package forward_test

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/sshgress/sshgress/core/httpedge/forward"
	"github.com/sshgress/sshgress/core/tunnel"
)

// discardWriter is a minimal http.ResponseWriter that discards the body.
type discardWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(code int) {
	if code >= 200 || code == 101 {
		w.status = code
	}
}
func (w *discardWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	return len(p), nil
}

func BenchmarkForwardGet1K(b *testing.B) {
	reply := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nDate: Mon, 02 Jan 2006 15:04:05 GMT\r\nContent-Length: 1024\r\n\r\n" + strings.Repeat("x", 1024))
	// An allocation-free backend, so allocs/op are the edge's.
	addr := rawBackend(b, func(c net.Conn, br *bufio.Reader) {
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
	u := forward.NewUpstream(func(ctx context.Context, _ netip.AddrPort) (tunnel.Conn, error) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return nil, err
		}
		return c.(*net.TCPConn), nil
	}, forward.Options{})
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
	w := &discardWriter{h: http.Header{}}
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
