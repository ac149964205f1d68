package inspect

import (
	"bytes"
	"io"
	"net/http/httptest"
	"net/netip"
	"testing"
)

// BenchmarkInspectCapture is what --inspect adds to one request with a
// browser's headers and a 1 KiB body each way (the tee, the header copies
// and keeping the exchange).
func BenchmarkInspectCapture(b *testing.B) {
	s := New(Options{})
	tun := s.Open("https://a.localhost", nil)
	defer tun.Close()
	body := bytes.Repeat([]byte("x"), 1024)
	r := httptest.NewRequest("POST", "/api/items?page=2", nil)
	for k, v := range map[string]string{
		"Accept": "application/json", "Accept-Encoding": "gzip, br", "Accept-Language": "en-GB,en;q=0.9",
		"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36",
		"Cookie":     "sid=0123456789abcdef", "Content-Type": "application/json", "X-Forwarded-For": "203.0.113.7",
	} {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	w.Header().Set("Content-Type", "application/json")
	visitor := netip.MustParseAddr("203.0.113.7")
	buf := make([]byte, 4096)
	b.ReportAllocs()
	for b.Loop() {
		r.Body = io.NopCloser(bytes.NewReader(body))
		c, cw := tun.Begin(w, r, visitor, false)
		for {
			n, err := r.Body.Read(buf)
			if n == 0 || err != nil {
				break
			}
		}
		cw.Write(body)
		c.End(200, 0)
		w.Body.Reset()
	}
}
