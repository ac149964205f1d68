package e2e_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/config"
	"github.com/sshgress/sshgress/e2e"
)

// Secrets a visitor sends that the access log must never hold.
const (
	secretPassword = "correct-horse"
	secretWrong    = "WRONG-PW-7f3a"
	secretCookie   = "COOKIE-SECRET-91b2"
	secretQuery    = "QUERY-TOKEN-c4d5"
)

// accessLines waits (bounded) until buf holds at least n JSON access
// lines and returns them parsed; every line in buf must be JSON.
func accessLines(t *testing.T, buf *e2e.SyncBuffer, n int) []map[string]any {
	t.Helper()
	var out []map[string]any
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		out = out[:0]
		for _, l := range buf.Lines() {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("access log line is not JSON: %v\n%s", err, l)
			}
			out = append(out, m)
		}
		if len(out) >= n {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("access log has %d lines after 10s, want %d:\n%s", len(out), n, buf)
		}
	}
}

// curlPath runs the real curl against path (which may hold a query) on
// the tunnel at url, through the edge's HTTP port; it returns the status.
func curlPath(t *testing.T, edge *e2e.Edge, url, path string, args ...string) int {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatalf("curl missing: %v", err)
	}
	host := e2e.Host(url)
	name, port, _ := strings.Cut(host, ":")
	full := append([]string{"-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10",
		"--connect-to", fmt.Sprintf("%s:%s:%s", name, port, edge.HTTPAddr().String())}, args...)
	out, err := exec.Command("curl", append(full, url+path)...).Output()
	if err != nil {
		t.Fatalf("curl: %v", err)
	}
	var code int
	fmt.Sscanf(string(out), "%d", &code)
	return code
}

// TestAccessLogJSON opens a basic-auth tunnel with the real ssh client and
// sends curl through it with a wrong password, then the right one (twice:
// the second is answered from the verdict cache), each with a cookie and a
// token in the query. Each request is one JSON line with the tunnel's id,
// the visitor's address, the status, the verdict and the bytes; no line
// holds the password, the cookie, the query or the Authorization header.
func TestAccessLogJSON(t *testing.T) {
	be := &counting{}
	port := serveBackend(t, be)
	ann := e2e.NewKey(t, t.TempDir(), "ann")
	edge := authEdge(t, func(c *config.Config) {
		c.Log.Format = "json"
		c.Accounts = []config.Account{{Name: "ann", Keys: []string{ann.AuthorizedKey}}}
	})
	s := edge.RunSSH(t, ann, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http", "--basic-auth", "ann:"+secretPassword)
	url := s.URL(t)
	id := waitTunnel(t, operatorAPI(t, edge), url, func(apiTunnel) bool { return true }).ID

	common := []string{"-b", "session=" + secretCookie, "-A", "curl-e2e/1.0"}
	path := "/private/page?token=" + secretQuery
	if got := curlPath(t, edge, url, path, append(common, "-u", "ann:"+secretWrong)...); got != http.StatusUnauthorized {
		t.Fatalf("wrong password: status %d, want 401", got)
	}
	for range 2 {
		if got := curlPath(t, edge, url, path, append(common, "-u", "ann:"+secretPassword)...); got != http.StatusOK {
			t.Fatalf("right password: status %d, want 200", got)
		}
	}

	lines := accessLines(t, edge.Access, 3)
	if len(lines) != 3 {
		t.Fatalf("%d access lines for 3 requests:\n%s", len(lines), edge.Access)
	}
	host, _, _ := strings.Cut(e2e.Host(url), ":")
	wantVerdicts := []string{"respond 401", "continue", "cached"}
	wantStatus := []float64{401, 200, 200}
	for i, l := range lines {
		for k, want := range map[string]any{
			"msg": "access", "kind": "request", "tunnel": id, "account": "ann", "type": "http",
			"host": host, "method": "GET", "path": "/private/page", "status": wantStatus[i],
			"visitor": "127.0.0.1", "user_agent": "curl-e2e/1.0", "verdict": wantVerdicts[i],
		} {
			if l[k] != want {
				t.Errorf("line %d: %s = %#v, want %#v", i, k, l[k], want)
			}
		}
		for _, k := range []string{"time", "duration_ms", "upstream_ms", "bytes_in", "bytes_out"} {
			if _, ok := l[k]; !ok {
				t.Errorf("line %d has no %s: %v", i, k, l)
			}
		}
	}
	if got := lines[1]["bytes_out"]; got != float64(len("secret page")) {
		t.Errorf("bytes_out of the 200 = %v, want %d", got, len("secret page"))
	}
	if up := lines[1]["upstream_ms"].(float64); up <= 0 {
		t.Errorf("upstream_ms of a forwarded request = %v, want > 0", up)
	}
	if up := lines[0]["upstream_ms"].(float64); up != 0 {
		t.Errorf("upstream_ms of the edge's own 401 = %v, want 0", up)
	}
	all := edge.Access.String() + edge.Logs.String()
	for _, secret := range []string{secretPassword, secretWrong, secretCookie, secretQuery, b64("ann:" + secretPassword), b64("ann:" + secretWrong), "Basic ", "token="} {
		if strings.Contains(all, secret) {
			t.Errorf("a log holds %q:\n%s", secret, all)
		}
	}
}

// TestAccessLogFileReopen runs the real binary with log.access a file:
// lines are appended to it (mode 0640); after the file is renamed (as
// logrotate does) and SIGHUP, the next lines go to a new file at the path,
// and none to the renamed one.
func TestAccessLogFileReopen(t *testing.T) {
	_, port := backend(t)
	e2e.RequireSSH(t)
	dir := t.TempDir()
	ann := e2e.NewKey(t, dir, "ann")
	access := filepath.Join(dir, "access.log")
	cfgFile := filepath.Join(dir, "sshgress.yaml")
	yaml := "log:\n  access: " + access + "\naccounts:\n  - name: ann\n    keys: [\"" + ann.AuthorizedKey + "\"]\n"
	if err := os.WriteFile(cfgFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	he := startHUPEdge(t, cfgFile)
	edge, httpPort := &e2e.Edge{SSHPort: he.port("ssh")}, he.port("http")
	s := edge.RunSSH(t, ann, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http")
	url := s.URL(t)
	get := func(path string) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://127.0.0.1:"+httpPort+path, nil)
		req.Host = e2e.Host(url)
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: status %d", path, resp.StatusCode)
		}
	}
	// waitFor waits (bounded) until file holds a line with want.
	waitFor := func(file, want string) string {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			b, _ := os.ReadFile(file)
			if strings.Contains(string(b), want) {
				return string(b)
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s has no line with %q after 10s:\n%s\nedge log:\n%s", file, want, b, he.logs)
			}
		}
	}
	get("/before-rotation")
	waitFor(access, "path=/before-rotation")
	if fi, err := os.Stat(access); err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("access log file: %v, mode %v; want 0640", err, fi.Mode().Perm())
	}
	if strings.Contains(he.logs.String(), "msg=access") {
		t.Errorf("access lines went to stderr too:\n%s", he.logs)
	}
	rotated := access + ".1"
	if err := os.Rename(access, rotated); err != nil {
		t.Fatal(err)
	}
	if err := he.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// The reopen happens before the config is re-read, so once the reload
	// line is logged the new file is in use.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(he.logs.String(), "config reloaded"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no reload after SIGHUP:\n%s", he.logs)
		}
	}
	get("/after-rotation")
	waitFor(access, "path=/after-rotation")
	old, _ := os.ReadFile(rotated)
	if !strings.Contains(string(old), "path=/before-rotation") || strings.Contains(string(old), "after-rotation") {
		t.Errorf("rotated file holds:\n%s", old)
	}
}

// TestAccessLogTCP opens a tcp tunnel with the real ssh client and echoes
// through it: the connection is one JSON line with its tunnel, the
// visitor's address and the bytes each way, written when it ends.
func TestAccessLogTCP(t *testing.T) {
	echo, _ := echoServer(t)
	edge := endpointEdge(t, func(c *config.Config) { c.Log.Format = "json" })
	key := e2e.NewKey(t, t.TempDir(), "ann")
	s := edge.RunSSH(t, key, "-R", "0:localhost:"+echo, "v2@127.0.0.1", "tcp")
	url := s.URL(t)
	c, err := net.DialTimeout("tcp", tcpAddr(t, url), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	const msg = "ping through the tunnel\n"
	io.WriteString(c, msg)
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	c.Close()
	if err != nil || string(got) != msg {
		t.Fatalf("echo: %q, %v", got, err)
	}
	l := accessLines(t, edge.Access, 1)[0]
	_, port, _ := net.SplitHostPort(tcpAddr(t, url))
	for k, want := range map[string]any{
		"msg": "access", "kind": "connection", "type": "tcp", "visitor": "127.0.0.1", "verdict": "continue",
		"bytes_in": float64(len(msg)), "bytes_out": float64(len(msg)), "port": float64(mustAtoi(t, port)),
	} {
		if l[k] != want {
			t.Errorf("%s = %#v, want %#v", k, l[k], want)
		}
	}
	if id, _ := l["tunnel"].(string); id == "" {
		t.Errorf("no tunnel id: %v", l)
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return n
}
