package inspect

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// exchange runs one request with a body of reqBody bytes through a
// capture on t, answered with respBody bytes, and returns what was kept.
func exchange(t *testing.T, tun *Tunnel, reqBody, respBody int, header http.Header) *Exchange {
	t.Helper()
	r := httptest.NewRequest("POST", "/hook?x=1", bytes.NewReader(bytes.Repeat([]byte("q"), reqBody)))
	for k, vv := range header {
		r.Header[k] = vv
	}
	rec := httptest.NewRecorder()
	c, w := tun.Begin(rec, r, netip.MustParseAddr("203.0.113.7"), false)
	got, err := io.ReadAll(r.Body)
	if err != nil || len(got) != reqBody {
		t.Fatalf("upstream read %d bytes, %v; want %d", len(got), err, reqBody)
	}
	w.Header().Set("Set-Cookie", "sid=secret")
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(201)
	w.Write(bytes.Repeat([]byte("r"), respBody))
	if rec.Body.Len() != respBody || rec.Code != 201 {
		t.Fatalf("visitor got %d bytes, status %d; want %d, 201", rec.Body.Len(), rec.Code, respBody)
	}
	return c.End(0, 0)
}

func TestInspectBodiesAreTeedAndTruncated(t *testing.T) {
	s := New(Options{})
	tun := s.Open("https://a.localhost", nil)
	defer tun.Close()
	for _, tc := range []struct {
		name        string
		req, resp   int
		wantReqKept int
		truncated   bool
	}{
		{"small", 10, 20, 10, false},
		{"at the bound", MaxBodyBytes, MaxBodyBytes, MaxBodyBytes, false},
		{"past the bound", 256 << 10, 300 << 10, MaxBodyBytes, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ex := exchange(t, tun, tc.req, tc.resp, nil)
			if len(ex.Body.Data) != tc.wantReqKept || ex.Body.Len != int64(tc.req) || ex.Body.Truncated() != tc.truncated {
				t.Errorf("request body kept %d of %d (truncated %v); want %d of %d (%v)", len(ex.Body.Data), ex.Body.Len, ex.Body.Truncated(), tc.wantReqKept, tc.req, tc.truncated)
			}
			if len(ex.RespBody.Data) > MaxBodyBytes || ex.RespBody.Len != int64(tc.resp) || ex.RespBody.Truncated() != tc.truncated {
				t.Errorf("response body kept %d of %d (truncated %v); want at most %d of %d (%v)", len(ex.RespBody.Data), ex.RespBody.Len, ex.RespBody.Truncated(), MaxBodyBytes, tc.resp, tc.truncated)
			}
			if ex.Status != 201 || ex.Target != "/hook?x=1" || ex.Method != "POST" {
				t.Errorf("kept %s %s %d; want POST /hook?x=1 201", ex.Method, ex.Target, ex.Status)
			}
		})
	}
}

func TestInspectRedactsSecrets(t *testing.T) {
	s := New(Options{})
	tun := s.Open("https://a.localhost", nil)
	defer tun.Close()
	ex := exchange(t, tun, 1, 1, http.Header{
		"Authorization":        {"Basic YW5uOnB3"},
		"Proxy-Authorization":  {"Basic c2VjcmV0"},
		"Cookie":               {"sid=hunter2"},
		"X-Sshgress-User":      {"ann"},
		"X-Sshgress-Replay":    {"1"},
		"Accept":               {"text/html"},
		"X-Sshgress-User-Mail": {"ann@example.com"},
	})
	for _, k := range []string{"Authorization", "Proxy-Authorization", "Cookie", "X-Sshgress-User", "X-Sshgress-User-Mail"} {
		if got := ex.Header.Get(k); got != Redacted {
			t.Errorf("request %s kept as %q; want %q", k, got, Redacted)
		}
	}
	if got := ex.RespHeader.Get("Set-Cookie"); got != Redacted {
		t.Errorf("response Set-Cookie kept as %q; want %q", got, Redacted)
	}
	if got := ex.Header.Get("Accept"); got != "text/html" {
		t.Errorf("Accept kept as %q; want it unchanged", got)
	}
	if got := ex.Header.Get("X-Sshgress-Replay"); got != "1" {
		t.Errorf("X-Sshgress-Replay kept as %q; want 1", got)
	}
	for k, vv := range replayHeader(ex.Header) {
		if Secret(k) {
			t.Errorf("replay would send %s: %q; redacted headers are left out", k, vv)
		}
	}
}

func TestInspectKeepsTheLastExchanges(t *testing.T) {
	s := New(Options{})
	tun := s.Open("https://a.localhost", nil)
	for i := 0; i < MaxExchanges+7; i++ {
		exchange(t, tun, i, 0, nil)
	}
	exs := tun.Exchanges()
	if len(exs) != MaxExchanges {
		t.Fatalf("kept %d exchanges; want %d", len(exs), MaxExchanges)
	}
	if exs[0].ID != MaxExchanges+7 || exs[len(exs)-1].ID != 8 {
		t.Errorf("kept exchanges %d..%d; want the newest %d..8", exs[0].ID, exs[len(exs)-1].ID, MaxExchanges+7)
	}
	if _, ok := tun.Exchange(7); ok {
		t.Errorf("exchange 7 still kept; the oldest go first")
	}
	tun.Close()
	if s.Used() != 0 || s.Tunnels() != 0 || len(tun.Exchanges()) != 0 {
		t.Errorf("after Close: %d bytes, %d tunnels, %d exchanges; want all freed", s.Used(), s.Tunnels(), len(tun.Exchanges()))
	}
	tun.Close() // idempotent
}

func TestInspectCapsHold(t *testing.T) {
	const tunnelCap, edgeCap = 1 << 20, 3 << 20
	s := New(Options{TunnelBytes: tunnelCap, EdgeBytes: edgeCap})
	var tuns []*Tunnel
	for i := 0; i < 5; i++ {
		tuns = append(tuns, s.Open("https://t"+strconv.Itoa(i)+".localhost", nil))
	}
	for i := 0; i < 200; i++ {
		tun := tuns[i%len(tuns)]
		exchange(t, tun, 256<<10, 256<<10, nil)
		if u := tun.Used(); u > tunnelCap {
			t.Fatalf("after %d requests a tunnel keeps %d bytes; cap %d", i+1, u, tunnelCap)
		}
		if u := s.Used(); u > edgeCap {
			t.Fatalf("after %d requests the edge keeps %d bytes; cap %d", i+1, u, edgeCap)
		}
	}
	var sum int64
	for _, tun := range tuns {
		for _, ex := range tun.Exchanges() {
			sum += ex.Size()
		}
	}
	if sum != s.Used() {
		t.Errorf("exchanges kept count %d bytes, the edge's total says %d", sum, s.Used())
	}
	// The edge cap evicts the oldest across tunnels: the last tunnel
	// written keeps exchanges, the edge is near its cap.
	if s.Used() < edgeCap/2 {
		t.Errorf("the edge keeps %d bytes; want most of its %d cap used", s.Used(), edgeCap)
	}
	for _, tun := range tuns {
		tun.Close()
	}
	if s.Used() != 0 {
		t.Errorf("after every tunnel closed the edge keeps %d bytes; want 0", s.Used())
	}
}

func TestInspectNilCaptureDoesNothing(t *testing.T) {
	var tun *Tunnel
	r := httptest.NewRequest("GET", "/", strings.NewReader("x"))
	rec := httptest.NewRecorder()
	c, w := tun.Begin(rec, r, netip.Addr{}, false)
	if w != http.ResponseWriter(rec) || c != nil {
		t.Fatalf("Begin on no tunnel wrapped the writer")
	}
	c.Verdict("x")
	if c.End(200, 0) != nil {
		t.Errorf("End on no capture kept something")
	}
	tun.Close()
}

// discardWriter is a ResponseWriter that keeps nothing.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }

// TestInspectCapsHoldUnderABurst sends the burst, 10,000 requests
// with 1 MiB bodies each way, over four tunnels from eight goroutines, and
// checks after every exchange that neither cap is passed; bodies stream
// through (nothing holds a whole 1 MiB body).
func TestInspectCapsHoldUnderABurst(t *testing.T) {
	const (
		requests           = 10_000
		body               = 1 << 20
		tunnelCap, edgeCap = 2 << 20, 5 << 20
	)
	s := New(Options{TunnelBytes: tunnelCap, EdgeBytes: edgeCap})
	var tuns []*Tunnel
	for i := range 4 {
		tuns = append(tuns, s.Open("https://t"+strconv.Itoa(i)+".localhost", nil))
	}
	chunk := bytes.Repeat([]byte("b"), 32<<10)
	var peak atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < requests; i += 8 {
				tun := tuns[i%len(tuns)]
				r := httptest.NewRequest("POST", "/burst", io.LimitReader(zeros{}, body))
				c, w := tun.Begin(&discardWriter{h: http.Header{}}, r, netip.MustParseAddr("203.0.113.7"), false)
				if n, _ := io.Copy(io.Discard, r.Body); n != body {
					errs <- "the upstream read " + strconv.FormatInt(n, 10) + " bytes"
					return
				}
				w.WriteHeader(200)
				for sent := 0; sent < body; sent += len(chunk) {
					w.Write(chunk)
				}
				c.End(200, 0)
				u := s.Used()
				for p := peak.Load(); u > p && !peak.CompareAndSwap(p, u); p = peak.Load() {
				}
				if tu := tun.Used(); tu > tunnelCap {
					errs <- "a tunnel keeps " + strconv.FormatInt(tu, 10) + " bytes"
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	if p := peak.Load(); p > edgeCap {
		t.Errorf("the edge kept up to %d bytes during the burst; cap %d", p, edgeCap)
	}
	t.Logf("peak kept %d bytes of the %d-byte edge cap over %d exchanges of 2 MiB", peak.Load(), edgeCap, requests)
	for _, tun := range tuns {
		tun.Close()
	}
	if s.Used() != 0 {
		t.Errorf("after every tunnel closed the edge keeps %d bytes; want 0", s.Used())
	}
}

// zeros reads as endless "z" bytes.
type zeros struct{}

var zchunk = bytes.Repeat([]byte("z"), 32<<10)

func (zeros) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		n += copy(p[n:], zchunk)
	}
	return n, nil
}
