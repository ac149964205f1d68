package forward_test

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/sshgress/sshgress/core/httpedge/forward"
)

// rawClient is an HTTP client that leaves Content-Encoding to the test.
var rawClient = &http.Client{Transport: &http.Transport{DisableCompression: true}}

func TestCompression(t *testing.T) {
	body := strings.Repeat(`{"path":"/api/items","ok":true}`+"\n", 300)
	tests := []struct {
		name    string
		on      bool
		accept  string
		ctype   string
		wantEnc string
	}{
		{"gzip", true, "gzip", "application/json", "gzip"},
		{"br preferred", true, "gzip;q=0.5, br", "application/json", "br"},
		{"browser gets gzip", true, "gzip, deflate, br, zstd", "application/json", "gzip"},
		{"not accepted", true, "", "application/json", ""},
		{"image untouched", true, "gzip", "image/png", ""},
		{"off", false, "gzip", "application/json", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tt.ctype)
				w.Header().Set("Content-Length", fmt.Sprint(len(body)))
				w.Header().Set("ETag", `"x"`)
				io.WriteString(w, body)
			}, forward.Options{})
			e.u.SetCompression(tt.on)
			req, _ := http.NewRequest(http.MethodGet, e.url("/"), nil)
			if tt.accept != "" {
				req.Header.Set("Accept-Encoding", tt.accept)
			}
			resp, err := rawClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.Header.Get("Content-Encoding"); got != tt.wantEnc {
				t.Fatalf("Content-Encoding = %q, want %q", got, tt.wantEnc)
			}
			if tt.wantEnc == "" {
				if string(raw) != body || resp.ContentLength != int64(len(body)) {
					t.Fatalf("got %d bytes (Content-Length %d), want the body untouched", len(raw), resp.ContentLength)
				}
				return
			}
			if resp.ContentLength != -1 || resp.Header.Get("Etag") != `W/"x"` || resp.Header.Get("Vary") != "Accept-Encoding" {
				t.Errorf("Content-Length %d, ETag %q, Vary %q; want none, weak, Accept-Encoding",
					resp.ContentLength, resp.Header.Get("Etag"), resp.Header.Get("Vary"))
			}
			if len(raw) >= len(body)/4 {
				t.Errorf("%d bytes on the wire for a %d-byte body", len(raw), len(body))
			}
			if tt.wantEnc == "gzip" {
				zr, err := gzip.NewReader(strings.NewReader(string(raw)))
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(zr)
				if err != nil || string(got) != body {
					t.Fatalf("decoded %d bytes (%v), want the backend's %d", len(got), err, len(body))
				}
			}
			if r := e.result(t); r.status != http.StatusOK || r.err != nil {
				t.Errorf("Forward = %d, %v; want 200, nil", r.status, r.err)
			}
		})
	}
}

// TestCompressionStreams checks that an encoded response still streams:
// the visitor decodes the first part while the upstream holds the rest.
func TestCompressionStreams(t *testing.T) {
	release := make(chan struct{})
	e := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "first line\n")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "second line\n")
	}, forward.Options{})
	e.u.SetCompression(true)
	req, _ := http.NewRequest(http.MethodGet, e.url("/"), nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := rawClient.Do(req)
	if err != nil {
		close(release)
		t.Fatal(err)
	}
	defer resp.Body.Close()
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		close(release)
		t.Fatal(err)
	}
	line, err := bufio.NewReader(zr).ReadString('\n')
	close(release)
	if err != nil || line != "first line\n" {
		t.Fatalf("first decoded line %q, %v; want it before the upstream goes on", line, err)
	}
	e.result(t)
}

// TestCompressionTruncated checks that an upstream cut short mid-body
// gives the visitor an encoded stream that does not decode completely.
func TestCompressionTruncated(t *testing.T) {
	addr := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		if readHead(br) != nil {
			return
		}
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n%s", strings.Repeat("a", 5000))
	})
	e := newTestEdge(t, tcpDial(addr), forward.Options{})
	e.u.SetCompression(true)
	req, _ := http.NewRequest(http.MethodGet, e.url("/"), nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := rawClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding = %q, want gzip", resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(resp.Body)
	if err == nil {
		_, err = io.ReadAll(zr)
	}
	if err == nil {
		t.Fatal("a truncated response decoded completely")
	}
}
