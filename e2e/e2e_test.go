package e2e_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sshgress/sshgress/core/config"
	"github.com/sshgress/sshgress/e2e"
	"github.com/sshgress/sshgress/plugins/tcp"
	tlsplugin "github.com/sshgress/sshgress/plugins/tls"
	"github.com/sshgress/sshgress/sdk"
)

// backend is a real local HTTP service behind a tunnel.
func backend(t *testing.T) (*httptest.Server, string) {
	t.Helper()
	up := websocket.Upgrader{}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Seen-Forwarded-For", r.Header.Get("X-Forwarded-For"))
		w.Header().Set("X-Seen-Host", r.Host)
		fmt.Fprintf(w, "hello from %s", r.URL.Path)
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			mt, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			c.WriteMessage(mt, msg)
		}
	})
	mux.HandleFunc("/bytes", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		io.Copy(w, io.LimitReader(&pattern{}, n))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	return srv, port
}

// pattern is an endless deterministic byte stream, the same whatever the
// reader's buffer sizes.
type pattern struct{ off int64 }

func (p *pattern) Read(b []byte) (int, error) {
	for i := range b {
		o := p.off + int64(i)
		b[i] = byte(o*7 + o>>9)
	}
	p.off += int64(len(b))
	return len(b), nil
}

func newEdge(t *testing.T, configure func(*config.Config)) *e2e.Edge {
	e2e.RequireSSH(t)
	// The edge learns the commands of plugins it knows but has not enabled
	// from their manifests, as cmd/sshgress hands them over: tcp and tls
	// here, so "tcp" says it is not enabled rather than unknown.
	return e2e.StartEdge(t, e2e.EdgeOptions{Configure: configure, Bundled: []sdk.Manifest{tcp.New().Manifest(), tlsplugin.New().Manifest()}})
}

func TestRandomSubdomain(t *testing.T) {
	_, port := backend(t)
	edge := newEdge(t, nil)
	key := e2e.NewKey(t, t.TempDir(), "id")
	s := edge.RunSSH(t, key, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http")
	url := s.URL(t)
	host := e2e.Host(url)
	label := strings.TrimSuffix(strings.Split(host, ":")[0], ".localhost")
	if len(label) < 8 || strings.Contains(label, ".") || strings.ToLower(label) != label {
		t.Fatalf("random label %q: want a lowercase single label with >= 40 bits", label)
	}
	status, body := edge.Get(t, url+"/x?y=1")
	if status != 200 || body != "hello from /x" {
		t.Fatalf("GET = %d %q, want 200 %q", status, body, "hello from /x")
	}
	// The request line appears in the session.
	s.WaitOutput(t, "GET  /x", 3*time.Second)
}

// TestOpenSSHPicksAESGCM checks the cipher a stock OpenSSH client ends up
// with: its own order prefers chacha20 and AES-CTR, which cost the edge far
// more per byte, so the edge offers AES-GCM only by default.
func TestOpenSSHPicksAESGCM(t *testing.T) {
	_, port := backend(t)
	edge := newEdge(t, nil)
	key := e2e.NewKey(t, t.TempDir(), "id")
	s := edge.RunSSH(t, key, "-v", "-R", "80:localhost:"+port, "v2@127.0.0.1", "http")
	s.URL(t)
	for _, dir := range []string{"server->client", "client->server"} {
		want := "kex: " + dir + " cipher: aes128-gcm@openssh.com"
		if !strings.Contains(s.Stderr.String(), want) {
			t.Errorf("ssh -v output lacks %q", want)
		}
	}
}

func TestNamedSubdomainAndHeaders(t *testing.T) {
	_, port := backend(t)
	edge := newEdge(t, nil)
	key := e2e.NewKey(t, t.TempDir(), "id")
	s := edge.RunSSH(t, key, "-R", "myapp:80:localhost:"+port, "127.0.0.1", "http")
	url := s.URL(t)
	if !strings.HasPrefix(url, "http://myapp.localhost:") {
		t.Fatalf("url = %q, want http://myapp.localhost:PORT", url)
	}
	req, _ := http.NewRequest("GET", url+"/", nil)
	req.Host = "MyApp.LOCALHOST." // normalised like the route
	req.Header.Set("X-Forwarded-For", "6.6.6.6")
	resp, err := edge.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	if got := resp.Header.Get("X-Seen-Forwarded-For"); got != "127.0.0.1" {
		t.Errorf("upstream saw X-Forwarded-For %q, want only the visitor's address 127.0.0.1", got)
	}
}

func TestReservedDomain(t *testing.T) {
	_, port := backend(t)
	dir := t.TempDir()
	ann, bob := e2e.NewKey(t, dir, "ann"), e2e.NewKey(t, dir, "bob")
	edge := newEdge(t, func(c *config.Config) {
		c.Accounts = []config.Account{
			{Name: "ann", Keys: []string{ann.AuthorizedKey}, Domains: []string{"app.example.org", "ann"}},
			{Name: "bob", Keys: []string{bob.AuthorizedKey}},
		}
	})
	t.Run("other account refused", func(t *testing.T) {
		for _, name := range []string{"app.example.org", "ann"} {
			s := edge.RunSSH(t, bob, "-R", name+":80:localhost:"+port, "v2@127.0.0.1", "http")
			if code := s.Wait(10 * time.Second); code == 0 || code == -1 {
				t.Fatalf("%s: exit %d, want a failure", name, code)
			}
			if !strings.Contains(s.Stderr.String(), "reserved") {
				t.Errorf("%s: stderr %q does not say the name is reserved", name, s.Stderr)
			}
		}
	})
	t.Run("owner allowed, second claim in use, owner takeover", func(t *testing.T) {
		s := edge.RunSSH(t, ann, "-R", "app.example.org:80:localhost:"+port, "v2@127.0.0.1", "http")
		url := s.URL(t)
		if !strings.HasPrefix(url, "http://app.example.org:") {
			t.Fatalf("url %q", url)
		}
		if st, _ := edge.Get(t, url+"/"); st != 200 {
			t.Fatalf("status %d", st)
		}
		// The same account reconnecting takes the name over (stale session).
		s2 := edge.RunSSH(t, ann, "-R", "app.example.org:80:localhost:"+port, "v2@127.0.0.1", "http")
		s2.URL(t)
		s.WaitOutput(t, "taken over", 3*time.Second)
		if st, _ := edge.Get(t, url+"/"); st != 200 {
			t.Fatalf("after takeover: status %d", st)
		}
	})
	t.Run("unreserved label in use", func(t *testing.T) {
		s := edge.RunSSH(t, bob, "-R", "shared:80:localhost:"+port, "v2@127.0.0.1", "http")
		s.URL(t)
		s2 := edge.RunSSH(t, ann, "-R", "shared:80:localhost:"+port, "v2@127.0.0.1", "http")
		if code := s2.Wait(10 * time.Second); code <= 0 {
			t.Fatalf("exit %d, want failure", code)
		}
		if !strings.Contains(s2.Stderr.String(), "in use") {
			t.Errorf("stderr %q lacks 'in use'", s2.Stderr)
		}
	})
}

func TestCommandErrors(t *testing.T) {
	_, port := backend(t)
	edge := newEdge(t, nil)
	key := e2e.NewKey(t, t.TempDir(), "id")
	tests := []struct {
		name   string
		args   []string
		want   string
		status int
	}{
		{"bad port", []string{"-R", "8000:localhost:" + port, "v2@127.0.0.1", "http"}, "80, 443 or 0", 1},
		{"bad version", []string{"-R", "80:localhost:" + port, "v1@127.0.0.1", "http"}, "v1", 1},
		{"unknown command", []string{"-R", "80:localhost:" + port, "v2@127.0.0.1", "ftp"}, `"ftp"`, 1},
		{"unknown flag", []string{"-R", "80:localhost:" + port, "v2@127.0.0.1", "http", "--bogus"}, "--bogus", 1},
		{"disabled type", []string{"-R", "0:localhost:" + port, "v2@127.0.0.1", "tcp"}, "tcp endpoints are not enabled on this server", 1},
		{"ip name", []string{"-R", "169.254.169.254:80:localhost:" + port, "v2@127.0.0.1", "http"}, "IP address", 1},
		{"no forward", []string{"v2@127.0.0.1", "http"}, "-R", 1},
		{"help", []string{"-R", "80:localhost:" + port, "v2@127.0.0.1", "http", "--help"}, "Usage", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			s := edge.RunSSH(t, key, tc.args...)
			code := s.Wait(10 * time.Second)
			out := s.Stdout.String() + s.Stderr.String()
			if code != tc.status {
				t.Fatalf("exit %d, want %d; output:\n%s", code, tc.status, out)
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, out)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %s", d)
			}
		})
	}
	if n := edge.HTTP().Routes(); n != 0 {
		t.Errorf("%d routes left after refused commands", n)
	}
}

func TestSeveralForwardsAndSessionClose(t *testing.T) {
	_, port := backend(t)
	edge := newEdge(t, nil)
	key := e2e.NewKey(t, t.TempDir(), "id")
	s := edge.RunSSH(t, key, "-R", "one:80:localhost:"+port, "-R", "two:80:localhost:"+port, "v2@127.0.0.1", "http")
	urls := s.URLs(t, 2)
	for _, u := range urls {
		if st, body := edge.Get(t, u+"/p"); st != 200 || body != "hello from /p" {
			t.Fatalf("%s: %d %q", u, st, body)
		}
	}
	s.Kill()
	deadline := time.Now().Add(time.Second)
	for {
		st, _ := edge.Get(t, urls[0]+"/")
		if st == 404 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %d one second after the session closed, want 404", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestNoSessionN(t *testing.T) {
	_, port := backend(t)
	edge := newEdge(t, nil)
	key := e2e.NewKey(t, t.TempDir(), "id")
	edge.RunSSH(t, key, "-N", "-R", "quiet:80:localhost:"+port, "v2@127.0.0.1")
	url := "http://quiet.localhost:" + strings.Split(edge.HTTPAddr().String(), ":")[1]
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, body := edge.Get(t, url+"/n")
		if st == 200 && body == "hello from /n" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ssh -N tunnel not serving: %d %q", st, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestWebSocketAndUpstreamDown(t *testing.T) {
	srv, port := backend(t)
	edge := newEdge(t, nil)
	key := e2e.NewKey(t, t.TempDir(), "id")
	s := edge.RunSSH(t, key, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http")
	url := s.URL(t)
	d := websocket.Dialer{NetDial: func(network, _ string) (net.Conn, error) {
		return net.Dial(network, edge.HTTPAddr().String())
	}}
	ws, _, err := d.Dial(strings.Replace(url, "http://", "ws://", 1)+"/ws", nil)
	if err != nil {
		t.Fatalf("websocket dial: %v", err)
	}
	for i := range 20 {
		msg := fmt.Sprintf("message %d", i)
		ws.WriteMessage(websocket.TextMessage, []byte(msg))
		_, got, err := ws.ReadMessage()
		if err != nil || string(got) != msg {
			t.Fatalf("echo %d: %q %v", i, got, err)
		}
	}
	ws.Close()

	srv.Close()
	st, body := edge.Get(t, url+"/", "Accept", "text/html")
	if st != 502 || !strings.Contains(body, "did not answer") {
		t.Fatalf("backend down: %d %q, want 502 saying the service did not answer", st, body)
	}
}

func TestLargeStreamChecksum(t *testing.T) {
	_, port := backend(t)
	edge := newEdge(t, nil)
	key := e2e.NewKey(t, t.TempDir(), "id")
	s := edge.RunSSH(t, key, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http")
	url := s.URL(t)
	n := int64(1 << 30)
	if testing.Short() {
		n = 128 << 20
	}
	want := sha256.New()
	io.Copy(want, io.LimitReader(&pattern{}, n))
	// 1 GiB under -race on a shared 2-core machine can take over a minute:
	// bound it, but not by the helper client's 60 s.
	client := &http.Client{Transport: edge.Client().Transport, Timeout: 5 * time.Minute}
	resp, err := client.Get(url + "/bytes?n=" + strconv.FormatInt(n, 10))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := sha256.New()
	m, err := io.Copy(got, resp.Body)
	if err != nil || m != n {
		t.Fatalf("read %d of %d bytes: %v", m, n, err)
	}
	if hex.EncodeToString(got.Sum(nil)) != hex.EncodeToString(want.Sum(nil)) {
		t.Fatal("checksum mismatch")
	}
}

// TestIdentityIsTheVerifiedKey: the client offers ann's key (the server
// says it would accept it) but cannot sign with it, then signs with bob's.
// The connection must be bob's (CVE-2024-45337's lesson).
func TestIdentityIsTheVerifiedKey(t *testing.T) {
	_, port := backend(t)
	dir := t.TempDir()
	ann, bob := e2e.NewKey(t, dir, "ann"), e2e.NewKey(t, dir, "bob")
	edge := newEdge(t, func(c *config.Config) {
		c.Accounts = []config.Account{
			{Name: "ann", Keys: []string{ann.AuthorizedKey}},
			{Name: "bob", Keys: []string{bob.AuthorizedKey}},
		}
	})
	// OpenSSH offers a public key whose private half is missing, and moves
	// on to the next identity when the server accepts the offer.
	annPub := filepath.Join(dir, "annpub")
	if err := os.WriteFile(annPub+".pub", []byte(ann.AuthorizedKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := edge.RunSSH(t, &e2e.Key{Path: annPub + ".pub"}, "-i", bob.Path, "-v", "-R", "80:localhost:"+port, "v2@127.0.0.1", "http")
	s.URL(t)
	if !strings.Contains(s.Stdout.String(), "Account     bob") {
		t.Fatalf("banner does not name bob, the key that signed:\n%s", s.Stdout)
	}
	if !strings.Contains(s.Stderr.String(), "Server accepts key: "+annPub) {
		t.Fatalf("the test did not make ssh offer ann's key first; ssh -v said:\n%s", s.Stderr)
	}
}
