package e2e_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/sshgress/sshgress/core/config"
	"github.com/sshgress/sshgress/core/inspect"
	"github.com/sshgress/sshgress/e2e"
)

// compressedResult is what curl got for one request: the header as the
// visitor got it, the body as curl wrote it (decoded only with
// --compressed) and the body bytes that crossed the wire.
type compressedResult struct {
	status int
	header http.Header
	body   []byte
	wire   int
}

// curlCompressed requests path on the tunnel at url with the real curl
// and returns what it got.
func curlCompressed(t *testing.T, edge *e2e.Edge, url, path string, args ...string) compressedResult {
	t.Helper()
	dir := t.TempDir()
	head, body := filepath.Join(dir, "head"), filepath.Join(dir, "body")
	name, port, _ := strings.Cut(e2e.Host(url), ":")
	full := append([]string{"-s", "--max-time", "10", "-D", head, "-o", body, "-w", "%{size_download}",
		"--connect-to", fmt.Sprintf("%s:%s:%s", name, port, edge.HTTPAddr().String())}, args...)
	out, err := exec.Command("curl", append(full, url+path)...).Output()
	if err != nil {
		t.Fatalf("curl %s: %v", path, err)
	}
	var res compressedResult
	if res.wire, err = strconv.Atoi(strings.TrimSpace(string(out))); err != nil {
		t.Fatalf("curl size_download %q: %v", out, err)
	}
	raw, _ := os.ReadFile(head)
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
	if err != nil {
		t.Fatalf("curl header %q: %v", raw, err)
	}
	resp.Body.Close()
	res.status, res.header = resp.StatusCode, resp.Header
	res.body, _ = os.ReadFile(body)
	return res
}

// TestCompression: with --compression, curl --compressed (which accepts
// gzip, br and more) gets a gzip
// body that decodes to the service's bytes, "Accept-Encoding: br" gets
// brotli, and an image, a Range request and a tunnel without the flag pass
// untouched; the access log and the inspector count the bytes the visitor
// got.
func TestCompression(t *testing.T) {
	e2e.RequireSSH(t)
	e2e.RequireTool(t, "curl", "curl")
	page := bytes.Repeat([]byte(`{"id":42,"name":"sshgress","tags":["edge","tunnel","ssh"]}`+"\n"), 400)
	img := make([]byte, 20000)
	rng := rand.NewChaCha8([32]byte{7})
	rng.Read(img)
	port := serveBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ctype := page, "application/json"
		if r.URL.Path == "/image.png" {
			body, ctype = img, "image/png"
		}
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("ETag", `"v1"`)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
	}))
	edge := e2e.StartEdge(t, e2e.EdgeOptions{Configure: func(c *config.Config) { c.Log.Format = "json" }})
	key := e2e.NewKey(t, t.TempDir(), "id")
	httpHelpLists(t, edge, key, "--compression")
	on := edge.RunSSH(t, key, "-R", "zip:80:localhost:"+port, "v2@127.0.0.1", "http", "--compression").URL(t)
	off := edge.RunSSH(t, key, "-R", "plain:80:localhost:"+port, "v2@127.0.0.1", "http").URL(t)

	gz := curlCompressed(t, edge, on, "/page.json", "--compressed") // deflate, gzip, br, zstd
	if gz.status != http.StatusOK || gz.header.Get("Content-Encoding") != "gzip" || !bytes.Equal(gz.body, page) {
		t.Fatalf("curl --compressed: %d, Content-Encoding %q, %d bytes decoded; want 200, gzip and the service's %d bytes",
			gz.status, gz.header.Get("Content-Encoding"), len(gz.body), len(page))
	}
	if gz.wire*10 > len(page) {
		t.Errorf("gzip: %d bytes on the wire for %d, want a tenth at most", gz.wire, len(page))
	}
	if gz.header.Get("Vary") != "Accept-Encoding" || gz.header.Get("Etag") != `W/"v1"` || gz.header.Get("Content-Length") != "" || gz.header.Get("Accept-Ranges") != "" {
		t.Errorf("gzip header: Vary %q, ETag %q, Content-Length %q, Accept-Ranges %q; want Accept-Encoding, weak, none, none",
			gz.header.Get("Vary"), gz.header.Get("Etag"), gz.header.Get("Content-Length"), gz.header.Get("Accept-Ranges"))
	}
	t.Logf("gzip: %d bytes on the wire for %d (%.1f%%)", gz.wire, len(page), 100*float64(gz.wire)/float64(len(page)))

	br := curlCompressed(t, edge, on, "/page.json", "-H", "Accept-Encoding: br")
	if br.header.Get("Content-Encoding") != "br" {
		t.Fatalf("Accept-Encoding: br got Content-Encoding %q", br.header.Get("Content-Encoding"))
	}
	if got, err := io.ReadAll(brotli.NewReader(bytes.NewReader(br.body))); err != nil || !bytes.Equal(got, page) {
		t.Fatalf("br body decodes to %d bytes (%v), want the service's %d", len(got), err, len(page))
	}
	t.Logf("br: %d bytes on the wire for %d (%.1f%%)", br.wire, len(page), 100*float64(br.wire)/float64(len(page)))

	for _, tt := range []struct {
		name, url, path string
		args            []string
		status          int
		want            []byte
	}{
		{"image", on, "/image.png", []string{"-H", "Accept-Encoding: gzip, br"}, http.StatusOK, img},
		{"range", on, "/page.json", []string{"-H", "Accept-Encoding: gzip, br", "-r", "0-99"}, http.StatusPartialContent, page[:100]},
		{"without the flag", off, "/page.json", []string{"-H", "Accept-Encoding: gzip, br"}, http.StatusOK, page},
	} {
		res := curlCompressed(t, edge, tt.url, tt.path, tt.args...)
		if res.status != tt.status || res.header.Get("Content-Encoding") != "" || !bytes.Equal(res.body, tt.want) {
			t.Errorf("%s: %d, Content-Encoding %q, %d bytes; want %d, none and the service's %d bytes untouched",
				tt.name, res.status, res.header.Get("Content-Encoding"), len(res.body), tt.status, len(tt.want))
		}
	}

	lines := accessLines(t, edge.Access, 5)
	if got := lines[0]["bytes_out"]; got != float64(gz.wire) {
		t.Errorf("access log bytes_out of the gzip response = %v, want the %d bytes on the wire", got, gz.wire)
	}
	if got := lines[1]["bytes_out"]; got != float64(br.wire) {
		t.Errorf("access log bytes_out of the br response = %v, want the %d bytes on the wire", got, br.wire)
	}
	// The inspector keeps what the visitor got too: the encoded bytes,
	// with their Content-Encoding.
	var exs []*inspect.Exchange
	for deadline := time.Now().Add(10 * time.Second); len(exs) < 5 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		exs = edge.Inspector().Exchanges()
	}
	if len(exs) < 1 {
		t.Fatal("the inspector kept no exchange")
	}
	if ex := exs[0]; ex.RespHeader.Get("Content-Encoding") != "gzip" || len(ex.RespBody.Data) != gz.wire {
		t.Errorf("the inspector kept Content-Encoding %q and %d body bytes; want gzip and the %d on the wire",
			ex.RespHeader.Get("Content-Encoding"), len(ex.RespBody.Data), gz.wire)
	}
}
