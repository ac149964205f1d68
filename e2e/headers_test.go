package e2e_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/config"
	"github.com/sshgress/sshgress/e2e"
	"github.com/sshgress/sshgress/plugins/basicauth"
	"github.com/sshgress/sshgress/plugins/headers"
	"github.com/sshgress/sshgress/sdk"
)

// headersEdge starts an edge with the headers and basicauth plugins
// enabled, each a child process of the sshgress binary as in production.
func headersEdge(t *testing.T) *e2e.Edge {
	e2e.RequireSSH(t)
	e2e.RequireTool(t, "curl", "curl")
	return e2e.StartEdge(t, e2e.EdgeOptions{
		Binary:  e2e.SharedBinary(t),
		Bundled: []sdk.Manifest{basicauth.New().Manifest(), headers.New().Manifest()},
		Configure: func(c *config.Config) {
			yes := true
			c.Plugins = map[string]config.Plugin{
				basicauth.Name: {Enabled: &yes},
				headers.Name:   {Enabled: &yes},
			}
		},
	})
}

// echoed is what the echo backend saw of a request.
type echoed struct {
	Host   string
	Header http.Header
}

// echoBackend answers every request with the Host and headers it got, as
// JSON, and sets response headers of a typical dev server.
func echoBackend(t *testing.T) string {
	return serveBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "dev-server/1.0")
		w.Header().Set("X-Powered-By", "express")
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(echoed{Host: r.Host, Header: r.Header})
	}))
}

// curlEcho requests url with curl and returns the response (its header as
// the visitor got it) and what the echo backend saw.
func curlEcho(t *testing.T, edge *e2e.Edge, url string, args ...string) (*http.Response, echoed) {
	t.Helper()
	name, port, _ := strings.Cut(e2e.Host(url), ":")
	full := append([]string{"-s", "-i", "--max-time", "10", "--connect-to", fmt.Sprintf("%s:%s:%s", name, port, edge.HTTPAddr().String())}, args...)
	out, err := exec.Command("curl", append(full, url+"/")...).Output()
	if err != nil {
		t.Fatalf("curl: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(out)), nil)
	if err != nil {
		t.Fatalf("curl output %q: %v", out, err)
	}
	defer resp.Body.Close()
	var seen echoed
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&seen); err != nil {
			t.Fatalf("backend's echo: %v", err)
		}
	}
	return resp, seen
}

// TestHeaderRewrite: request adds and removes reach the service, response
// adds and removes reach curl, --host-header sets the Host the service
// gets, and a visitor can neither forge nor remove the edge's own headers.
// The edits apply after basic auth's verdict (removing Authorization hides
// the password from the service, basic auth still checks it), and with
// the headers plugin's process stopped: no call per request.
func TestHeaderRewrite(t *testing.T) {
	port := echoBackend(t)
	edge := headersEdge(t)
	key := e2e.NewKey(t, t.TempDir(), "id")
	s := edge.RunSSH(t, key, "-R", "hdr:80:localhost:"+port, "v2@127.0.0.1", "http",
		"--basic-auth", "ann:correct-horse",
		"--request-header-add", "'X-Env: staging'", "--request-header-add", "'x-env: second'",
		"--request-header-remove", "Referer", "--request-header-remove", "Authorization",
		"--response-header-add", "'X-Frame-Options: DENY'", "--response-header-remove", "Server",
		"--host-header", "localhost:3000")
	url := s.URL(t)
	for _, line := range []string{
		"basic auth (1 user)",
		"Request headers: remove Referer, Authorization; add X-Env (headers)",
		"Response headers: remove Server; add X-Frame-Options (headers)",
		"Host header localhost:3000 (headers)",
	} {
		s.WaitOutput(t, line, 5*time.Second)
	}

	check := func(when string) {
		t.Helper()
		resp, seen := curlEcho(t, edge, url, "-u", "ann:correct-horse",
			"-H", "Referer: https://visitor.example/", "-H", "X-Env: from-visitor",
			"-H", "X-Forwarded-For: 203.0.113.66", "-H", "X-Sshgress-User: mallory", "-H", "X-Forwarded-Host: evil.example")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d, want 200", when, resp.StatusCode)
		}
		h := seen.Header
		if got := h.Values("X-Env"); strings.Join(got, ",") != "from-visitor,staging,second" {
			t.Errorf("%s: the service got X-Env %q, want the visitor's value and both added ones", when, got)
		}
		for _, gone := range []string{"Referer", "Authorization", "X-Sshgress-User"} {
			if v := h.Values(gone); len(v) != 0 {
				t.Errorf("%s: the service got %s %q, want it removed", when, gone, v)
			}
		}
		if seen.Host != "localhost:3000" {
			t.Errorf("%s: the service got Host %q, want localhost:3000", when, seen.Host)
		}
		if got, want := h.Get("X-Forwarded-Host"), e2e.Host(url); got != want {
			t.Errorf("%s: X-Forwarded-Host %q, want the public host %q", when, got, want)
		}
		if got := h.Values("X-Forwarded-For"); len(got) != 1 || got[0] != "127.0.0.1" {
			t.Errorf("%s: X-Forwarded-For %q, want the edge's 127.0.0.1 alone", when, got)
		}
		if got := resp.Header.Get("X-Frame-Options"); got != "DENY" {
			t.Errorf("%s: curl got X-Frame-Options %q, want DENY", when, got)
		}
		if got := resp.Header.Values("Server"); len(got) != 0 {
			t.Errorf("%s: curl got Server %q, want it removed", when, got)
		}
		if got := resp.Header.Get("X-Powered-By"); got != "express" {
			t.Errorf("%s: curl got X-Powered-By %q, want the service's header kept", when, got)
		}
	}
	check("plugin running")
	if resp, _ := curlEcho(t, edge, url); resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("X-Frame-Options") != "" {
		t.Errorf("without the password: %d with X-Frame-Options %q, want basic auth's 401 without the service's edits", resp.StatusCode, resp.Header.Get("X-Frame-Options"))
	}

	pids := e2e.Processes(e2e.SharedBinary(t), "plugin", headers.Name)
	if len(pids) != 1 {
		t.Fatalf("%d headers processes, want 1", len(pids))
	}
	syscall.Kill(pids[0], syscall.SIGSTOP)
	t.Cleanup(func() { syscall.Kill(pids[0], syscall.SIGCONT) })
	if !waitStopped(pids[0], 5*time.Second) {
		t.Fatal("the headers plugin's threads not all stopped 5s after SIGSTOP")
	}
	for range 3 {
		check("plugin stopped")
	}
	syscall.Kill(pids[0], syscall.SIGCONT)
}

// TestHostHeaderRewrite: --host-header rewrite sends Host "localhost"
// (ssh -R does not tell the edge the local port) and says so.
func TestHostHeaderRewrite(t *testing.T) {
	port := echoBackend(t)
	edge := headersEdge(t)
	key := e2e.NewKey(t, t.TempDir(), "id")
	s := edge.RunSSH(t, key, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http", "--host-header", "rewrite")
	url := s.URL(t)
	s.WaitOutput(t, "--host-header rewrite sends Host localhost: ssh -R does not tell the edge your local port", 5*time.Second)
	resp, seen := curlEcho(t, edge, url)
	if resp.StatusCode != http.StatusOK || seen.Host != "localhost" {
		t.Fatalf("status %d, the service got Host %q; want 200 and localhost", resp.StatusCode, seen.Host)
	}
	if got, want := seen.Header.Get("X-Forwarded-Host"), e2e.Host(url); got != want {
		t.Errorf("X-Forwarded-Host %q, want %q", got, want)
	}
}

// TestHeaderRewriteRefusals: a bad value gets its sentence in the ssh
// session and no tunnel; --help lists the flags.
func TestHeaderRewriteRefusals(t *testing.T) {
	port := echoBackend(t)
	edge := headersEdge(t)
	key := e2e.NewKey(t, t.TempDir(), "id")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"forge forwarded", []string{"--request-header-add", "'X-Forwarded-For: 203.0.113.9'"},
			`--request-header-add: "X-Forwarded-For" is one of the edge's own headers`},
		{"remove identity", []string{"--request-header-remove", "X-Sshgress-User-Email"},
			`--request-header-remove: "X-Sshgress-User-Email" is one of the edge's own headers`},
		{"hop-by-hop", []string{"--response-header-remove", "Connection"},
			`--response-header-remove: "Connection" is a hop-by-hop or framing header that the edge writes itself`},
		{"crlf", []string{"--response-header-add", "'X-A: a\r\nSet-Cookie: b=1'"},
			`--response-header-add: the value of "X-A" has a control character (CR, LF, NUL or another); a header value is one line of text`},
		{"no colon", []string{"--request-header-add", "X-Env"}, `--request-header-add takes "Name: value"`},
		{"host by add", []string{"--request-header-add", "'Host: example.org'"}, "--request-header-add cannot edit the Host header; use --host-header HOST"},
		{"bad host", []string{"--host-header", "'a b'"}, `--host-header "a b" is not a host name or address with an optional port`},
		// 8 KiB cannot arrive in a 4 KiB command; 65 edits can.
		{"too many", slices.Repeat([]string{"--request-header-remove", "X-A"}, 65), "65 header edits given; at most 64 together"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := edge.RunSSH(t, key, append([]string{"-R", "80:localhost:" + port, "v2@127.0.0.1", "http"}, tc.args...)...)
			if code := s.Wait(10 * time.Second); code != 1 {
				t.Fatalf("exit %d, want 1; stderr %q", code, s.Stderr)
			}
			if !strings.Contains(s.Stderr.String(), tc.want) {
				t.Errorf("stderr %q lacks %q", s.Stderr, tc.want)
			}
			if strings.Contains(s.Stdout.String(), "Forwarding") {
				t.Errorf("a tunnel was opened: stdout %q", s.Stdout)
			}
		})
	}
	help := edge.RunSSH(t, key, "v2@127.0.0.1", "http", "--help")
	if code := help.Wait(10 * time.Second); code != 0 {
		t.Fatalf("http --help: exit %d, stderr %q", code, help.Stderr)
	}
	for _, flag := range []string{"--request-header-add 'NAME: VALUE'", "--request-header-remove NAME", "--response-header-add 'NAME: VALUE'", "--response-header-remove NAME", "--host-header HOST|rewrite"} {
		if !strings.Contains(help.Stdout.String(), flag) {
			t.Errorf("http --help lacks %q:\n%s", flag, help.Stdout)
		}
	}
}
