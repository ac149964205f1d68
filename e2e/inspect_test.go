package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sshgress/sshgress/core/config"
	"github.com/sshgress/sshgress/core/inspect"
	"github.com/sshgress/sshgress/e2e"
)

// seenRequest is what the inspector test's backend received.
type seenRequest struct {
	method, path, replay, auth, body string
}

// recordingBackend answers every request with JSON and records what it
// received.
type recordingBackend struct {
	mu   sync.Mutex
	seen []seenRequest
}

func (b *recordingBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	b.mu.Lock()
	b.seen = append(b.seen, seenRequest{r.Method, r.URL.Path, r.Header.Get("X-Sshgress-Replay"), r.Header.Get("Authorization"), string(body)})
	b.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Set-Cookie", "session=backend-secret")
	fmt.Fprintf(w, `{"ok":true,"path":%q}`, r.URL.Path)
}

func (b *recordingBackend) requests() []seenRequest {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]seenRequest(nil), b.seen...)
}

var inspectLineRE = regexp.MustCompile(`Inspect\s+(https://\S+)`)

// inspectLink waits for the banner's inspector line and returns its link.
func inspectLink(t *testing.T, s *e2e.SSH) string {
	t.Helper()
	s.WaitOutput(t, "Inspect ", 15*time.Second)
	m := inspectLineRE.FindStringSubmatch(s.Stdout.String())
	if m == nil {
		t.Fatalf("no inspector link in the banner:\n%s", s.Stdout)
	}
	return m[1]
}

// curlTLS sends one request with curl to url on the edge's TLS port,
// trusting the edge's CA, and returns the status.
func curlTLS(t *testing.T, edge *e2e.Edge, url string, args ...string) int {
	t.Helper()
	host := e2e.Host(url)
	name, port, _ := strings.Cut(host, ":")
	full := append([]string{"-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10",
		"--cacert", edge.LocalCARoot(), "--connect-to", name + ":" + port + ":" + edge.HTTPSAddr().String()}, args...)
	out, err := exec.Command(e2e.RequireTool(t, "curl", "curl"), append(full, url)...).Output()
	if err != nil {
		t.Fatalf("curl %s: %v", url, err)
	}
	var code int
	fmt.Sscanf(string(out), "%d", &code)
	return code
}

// TestInspectReplayInChromium: the owner opens the banner's inspector
// link in Chromium, sees a request curl made (secrets redacted, JSON
// pretty-printed), replays it, and the backend receives it again marked
// as a replay. Once the tunnel closes the link is gone.
func TestInspectReplayInChromium(t *testing.T) {
	e2e.RequireSSH(t)
	be := &recordingBackend{}
	port := serveBackend(t, be)
	edge := e2e.StartEdge(t, e2e.EdgeOptions{})
	key := e2e.NewKey(t, t.TempDir(), "id")
	s := edge.RunSSH(t, key, "-R", "443:localhost:"+port, "v2@127.0.0.1", "http", "-v")
	tunnelURL := s.URL(t)
	link := inspectLink(t, s)
	if !strings.HasPrefix(link, "https://inspect.localhost:") {
		t.Fatalf("inspector link %q; want one on https://inspect.localhost", link)
	}

	if st := curlTLS(t, edge, tunnelURL+"/hook", "-X", "POST", "-H", "Content-Type: application/json",
		"-H", "Authorization: Bearer visitor-secret", "--data-binary", `{"event":"push","n":1}`); st != 200 {
		t.Fatalf("curl through the tunnel: %d", st)
	}
	// -v prints the request's headers in the session, redacted.
	s.WaitOutput(t, "    Content-Type: application/json", 5*time.Second)
	if out := s.Stdout.String(); strings.Contains(out, "visitor-secret") || !strings.Contains(out, "    Authorization: [redacted]") {
		t.Errorf("-v output shows the credential or no redacted line:\n%s", out)
	}

	ctx := dashBrowser(t, edge)
	body := browse(t, ctx, `#exchanges`, chromedp.Navigate(link))
	where, _ := pageText(t, ctx)
	token := link[strings.LastIndex(link, "/")+1:]
	if strings.Contains(where, token) {
		t.Errorf("the token stays in the address bar: %s", where)
	}
	if !strings.Contains(body, "POST") || !strings.Contains(body, "/hook") {
		t.Fatalf("the list lacks the curl request: %q", body)
	}
	for _, c := range browserCookies(t, ctx, where) {
		if !c.Secure || !c.HTTPOnly || c.SameSite != "Strict" || c.Domain != "inspect.localhost" {
			t.Errorf("cookie %s: secure %v, httpOnly %v, sameSite %q, domain %q", c.Name, c.Secure, c.HTTPOnly, c.SameSite, c.Domain)
		}
	}

	body = browse(t, ctx, `#replay`, chromedp.Click(chromedp.CSS(`#exchanges a`)))
	if !strings.Contains(body, `"event": "push"`) || !strings.Contains(body, "[redacted]") || strings.Contains(body, "visitor-secret") || strings.Contains(body, "backend-secret") {
		t.Fatalf("the exchange page shows no pretty JSON, or a secret:\n%s", body)
	}

	body = browse(t, ctx, `#line .tag`, chromedp.Click(chromedp.CSS(`#replay`)))
	if !strings.Contains(body, "POST /hook") || !strings.Contains(body, "X-Sshgress-Replay") {
		t.Errorf("the replay's page: %q", body)
	}
	seen := be.requests()
	if len(seen) != 2 {
		t.Fatalf("the backend got %d requests; want the original and the replay: %+v", len(seen), seen)
	}
	want := seenRequest{"POST", "/hook", "1", "", `{"event":"push","n":1}`}
	if seen[1] != want {
		t.Errorf("replay as the backend got it: %+v; want %+v", seen[1], want)
	}
	if seen[0].replay != "" {
		t.Errorf("the visitor's request was marked as a replay")
	}
	body = browse(t, ctx, `#exchanges`, chromedp.Navigate(where))
	if strings.Count(body, "/hook") != 2 || !strings.Contains(body, "replay") {
		t.Errorf("the list after the replay: %q", body)
	}

	// Everything goes with the tunnel: the link answers 404.
	s.Kill()
	deadline := time.Now().Add(10 * time.Second)
	for edge.Inspector().Tunnels() != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n, used := edge.Inspector().Tunnels(), edge.Inspector().Used(); n != 0 || used != 0 {
		t.Fatalf("after the tunnel closed the inspector holds %d tunnels, %d bytes", n, used)
	}
	if st := curlTLS(t, edge, link); st != 404 {
		t.Errorf("the link after the tunnel closed: %d; want 404", st)
	}
}

// TestInspectOff: --inspect=false prints no inspector line, keeps nothing,
// and a token link answers 404.
func TestInspectOff(t *testing.T) {
	e2e.RequireSSH(t)
	port := serveBackend(t, &recordingBackend{})
	edge := e2e.StartEdge(t, e2e.EdgeOptions{})
	key := e2e.NewKey(t, t.TempDir(), "id")
	s := edge.RunSSH(t, key, "-R", "443:localhost:"+port, "v2@127.0.0.1", "http", "--inspect=false")
	url := s.URL(t)
	if st := curlTLS(t, edge, url+"/x"); st != 200 {
		t.Fatalf("curl through the tunnel: %d", st)
	}
	s.WaitOutput(t, "/x", 5*time.Second)
	if strings.Contains(s.Stdout.String(), "Inspect") {
		t.Errorf("banner with --inspect=false has an inspector line:\n%s", s.Stdout)
	}
	if n := edge.Inspector().Tunnels(); n != 0 {
		t.Errorf("the inspector holds %d tunnels; want none", n)
	}
	_, p, _ := strings.Cut(edge.HTTPSAddr().String(), ":")
	if st := curlTLS(t, edge, "https://inspect.localhost:"+p+"/t/"+strings.Repeat("ab", 32)); st != 404 {
		t.Errorf("a token link: %d; want 404", st)
	}
}

// TestInspectBurstKeepsToTheCaps: 2,000 requests with 256 KiB bodies
// through an inspected tunnel keep the inspector's own accounting under
// limits.inspector_bytes all along, and everything is freed at close.
func TestInspectBurstKeepsToTheCaps(t *testing.T) {
	e2e.RequireSSH(t)
	// Below what 50 exchanges with 64 KiB kept each need, so the edge cap,
	// not the per-tunnel count, is what holds.
	const capBytes = 2 << 20
	edge := e2e.StartEdge(t, e2e.EdgeOptions{Configure: func(c *config.Config) { c.Limits.InspectorBytes = capBytes }})
	port := serveBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "%d", n)
	}))
	key := e2e.NewKey(t, t.TempDir(), "id")
	s := edge.RunSSH(t, key, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http")
	url := s.URL(t)
	inspectLink(t, s)

	body := bytes.Repeat([]byte("b"), 256<<10)
	client := edge.Client()
	var next, failed atomic.Int64
	var peak atomic.Int64
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= 2000 && ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, "POST", url+"/upload", bytes.NewReader(body))
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(got) != "262144" {
					failed.Add(1)
				}
				if u := edge.Inspector().Used(); u > peak.Load() {
					peak.Store(u)
				}
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatalf("the burst did not finish within 3 minutes")
	}
	if f := failed.Load(); f != 0 {
		t.Fatalf("%d of 2000 requests failed", f)
	}
	used := edge.Inspector().Used()
	t.Logf("inspector: %d bytes kept after the burst, peak seen %d, cap %d", used, peak.Load(), capBytes)
	if peak.Load() > capBytes || used > capBytes {
		t.Errorf("the inspector kept %d bytes (peak %d); cap %d", used, peak.Load(), capBytes)
	}
	if used < capBytes/2 {
		t.Errorf("the inspector kept %d bytes after 2000 large requests; want it near its %d cap", used, capBytes)
	}
	s.Kill()
	deadline := time.Now().Add(10 * time.Second)
	for edge.Inspector().Used() != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if u := edge.Inspector().Used(); u != 0 {
		t.Errorf("after the tunnel closed the inspector keeps %d bytes", u)
	}
}

// TestInspectStreamsThrough: an inspected tunnel still streams both ways:
// the backend sees the start of an upload before the visitor has sent the
// rest, and the visitor sees the start of a response before the backend
// has written the rest (the capture tees, it never holds a body back).
// Both bodies are then kept in the inspector.
func TestInspectStreamsThrough(t *testing.T) {
	e2e.RequireSSH(t)
	edge := e2e.StartEdge(t, e2e.EdgeOptions{})
	gotFirst := make(chan struct{})
	release := make(chan struct{})
	port := serveBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 5)
		if _, err := io.ReadFull(r.Body, buf); err != nil || string(buf) != "first" {
			http.Error(w, "no first part", 500)
			return
		}
		close(gotFirst)
		rest, _ := io.ReadAll(r.Body)
		w.Write([]byte("start|"))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-time.After(15 * time.Second):
		}
		fmt.Fprintf(w, "end after %q", rest)
	}))
	key := e2e.NewKey(t, t.TempDir(), "id")
	s := edge.RunSSH(t, key, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http")
	url := s.URL(t)
	inspectLink(t, s)

	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", url+"/stream", pr)
	type result struct {
		resp *http.Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := edge.Client().Do(req)
		done <- result{resp, err}
	}()
	pw.Write([]byte("first"))
	select {
	case <-gotFirst:
	case <-time.After(10 * time.Second):
		t.Fatal("the backend did not see the upload's first part while the rest was still to come")
	}
	pw.Write([]byte("-rest"))
	pw.Close()
	var res result
	select {
	case res = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("no response head within 10s")
	}
	if res.err != nil {
		t.Fatal(res.err)
	}
	defer res.resp.Body.Close()
	head := make([]byte, len("start|"))
	read := make(chan error, 1)
	go func() { _, err := io.ReadFull(res.resp.Body, head); read <- err }()
	select {
	case err := <-read:
		if err != nil || string(head) != "start|" {
			t.Fatalf("response start %q, %v", head, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the visitor did not get the response's first part before the backend wrote the rest")
	}
	close(release)
	rest, _ := io.ReadAll(res.resp.Body)
	if string(rest) != `end after "-rest"` {
		t.Fatalf("response rest %q", rest)
	}

	var kept string
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if kept = inspectedBodies(edge); kept != "" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if want := `first-rest|start|end after "-rest"`; kept != want {
		t.Errorf("the inspector kept %q; want %q", kept, want)
	}
}

// inspectedBodies is the request and response body of the one exchange
// the edge's inspector keeps, "" until it keeps one.
func inspectedBodies(edge *e2e.Edge) string {
	exs := edge.Inspector().Exchanges()
	if len(exs) != 1 {
		return ""
	}
	return string(exs[0].Body.Data) + "|" + string(exs[0].RespBody.Data)
}

// TestInspectNotForSSHN: `ssh -N` shows no banner, so nobody would ever
// see the link: such tunnels keep nothing.
func TestInspectNotForSSHN(t *testing.T) {
	e2e.RequireSSH(t)
	port := serveBackend(t, &recordingBackend{})
	edge := e2e.StartEdge(t, e2e.EdgeOptions{})
	key := e2e.NewKey(t, t.TempDir(), "id")
	edge.RunSSH(t, key, "-N", "-R", "quiet:80:localhost:"+port, "v2@127.0.0.1")
	url := "http://quiet.localhost:" + strings.Split(edge.HTTPAddr().String(), ":")[1]
	deadline := time.Now().Add(10 * time.Second)
	for {
		if st, _ := edge.Get(t, url+"/n"); st == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("ssh -N tunnel not serving")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n, used := edge.Inspector().Tunnels(), edge.Inspector().Used(); n != 0 || used != 0 {
		t.Errorf("an ssh -N tunnel is inspected: %d tunnels, %d bytes; want none", n, used)
	}
}

// TestInspectShowsTheVerdict: behind --basic-auth the inspector keeps what
// the middleware decided, refused or let through and as whom, and never
// the credentials.
func TestInspectShowsTheVerdict(t *testing.T) {
	be := &recordingBackend{}
	port := serveBackend(t, be)
	edge := authEdge(t, nil)
	key := e2e.NewKey(t, t.TempDir(), "id")
	s := edge.RunSSH(t, key, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http", "--basic-auth", "ann:correct-horse")
	url := s.URL(t)
	inspectLink(t, s)
	if st, _ := edge.Get(t, url+"/refused"); st != 401 {
		t.Fatalf("without credentials: %d; want 401", st)
	}
	if st, _ := edge.Get(t, url+"/allowed", "Authorization", "Basic "+b64("ann:correct-horse")); st != 200 {
		t.Fatalf("with credentials: %d; want 200", st)
	}
	var exs []*inspect.Exchange
	deadline := time.Now().Add(10 * time.Second)
	for len(exs) < 2 && time.Now().Before(deadline) {
		exs = edge.Inspector().Exchanges()
		time.Sleep(20 * time.Millisecond)
	}
	if len(exs) != 2 {
		t.Fatalf("the inspector keeps %d exchanges; want 2", len(exs))
	}
	for i, want := range []struct{ path, verdict string }{
		{"/refused", "answered the visitor itself (Unauthorized)"},
		{"/allowed", "let the request through as ann"},
	} {
		ex := exs[i]
		if ex.Target != want.path || ex.Verdict != want.verdict {
			t.Errorf("exchange %d: %s with verdict %q; want %s, %q", i, ex.Target, ex.Verdict, want.path, want.verdict)
		}
		for k, vv := range ex.Header {
			for _, v := range vv {
				if strings.Contains(v, b64("ann:correct-horse")) {
					t.Errorf("the inspector keeps the credential in %s", k)
				}
			}
		}
	}
}
