package e2e_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/config"
	"github.com/sshgress/sshgress/e2e"
)

// buildExample builds the example plugin sdk/examples/NAME into dir (bounded
// at 5 minutes) and returns its path and sha256, as the config names it.
func buildExample(t *testing.T, dir, name string) (string, [sha256.Size]byte) {
	t.Helper()
	plugin := filepath.Join(dir, name)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", plugin, "./sdk/examples/"+name)
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build example plugin %s: %v\n%s", name, err, out)
	}
	data, err := os.ReadFile(plugin)
	if err != nil {
		t.Fatal(err)
	}
	return plugin, sha256.Sum256(data)
}

// TestThirdPartyPlugin loads the example plugin sdk/examples/securityheaders
// through config and uses its flag end to end: through the OpenSSH client
// and curl, an HTML response gets the security headers the plugin answers
// in the response phase and a JSON one does not. A wrong checksum stops
// the edge's start with a clear message.
func TestThirdPartyPlugin(t *testing.T) {
	e2e.RequireSSH(t)
	e2e.RequireTool(t, "curl", "curl")
	dir := t.TempDir()
	plugin, sum := buildExample(t, dir, "securityheaders")

	t.Run("wrong checksum refused", func(t *testing.T) {
		cfgFile := filepath.Join(t.TempDir(), "edge.yaml")
		os.WriteFile(cfgFile, []byte(fmt.Sprintf("plugins:\n  securityheaders:\n    path: %s\n    sha256: %q\n", plugin, strings.Repeat("ab", 32))), 0o600)
		// An edge that starts anyway serves until killed: serveRefused
		// bounds the wait and tells that apart from a refused start.
		out := serveRefused(t, cfgFile)
		if !strings.Contains(out, "securityheaders") || !strings.Contains(strings.ToLower(out), "checksum") {
			t.Errorf("message %q does not name the plugin and the checksum", out)
		}
	})

	t.Run("loaded and used", func(t *testing.T) {
		// The service answers with the Content-Type the visitor asks for
		// in X-Want-Type, and a JSON echo of what it got as the body.
		port := serveBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", r.Header.Get("X-Want-Type"))
			json.NewEncoder(w).Encode(echoed{Host: r.Host, Header: r.Header})
		}))
		edge := e2e.StartEdge(t, e2e.EdgeOptions{Configure: func(c *config.Config) {
			c.Plugins = map[string]config.Plugin{"securityheaders": {Path: plugin, SHA256: hex.EncodeToString(sum[:])}}
		}})
		key := e2e.NewKey(t, t.TempDir(), "id")
		s := edge.RunSSH(t, key, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http", "--security-headers")
		url := s.URL(t)
		s.WaitOutput(t, "security headers on HTML responses", 5*time.Second)
		added := []string{"Strict-Transport-Security", "X-Content-Type-Options", "Content-Security-Policy"}
		for range 2 { // the second time from the edge's cache of the plugin's answers
			resp, seen := curlEcho(t, edge, url, "-H", "X-Want-Type: text/html; charset=utf-8")
			if resp.StatusCode != http.StatusOK || seen.Header.Get("X-Want-Type") == "" {
				t.Fatalf("HTML: status %d, the service saw %v; want 200 from the service", resp.StatusCode, seen.Header)
			}
			for _, name := range added {
				if resp.Header.Get(name) == "" {
					t.Errorf("HTML response: curl got no %s (headers %v)", name, resp.Header)
				}
			}
			if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("HTML response: X-Content-Type-Options %q, want nosniff", got)
			}
			resp, _ = curlEcho(t, edge, url, "-H", "X-Want-Type: application/json")
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("JSON: status %d, Content-Type %q; want 200 application/json", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			for _, name := range added {
				if v := resp.Header.Values(name); len(v) != 0 {
					t.Errorf("JSON response: curl got %s %q, want none", name, v)
				}
			}
		}
	})
}

// TestThirdPartyPluginEndpointType loads the example endpoint plugin from
// sdk/examples/game through config: the edge's help shows the summary,
// remote ports and example its manifest describes, a remote port the
// manifest does not take is refused with a sentence built from it, and a
// forward on port 0 carries bytes to the local service.
func TestThirdPartyPluginEndpointType(t *testing.T) {
	e2e.RequireSSH(t)
	plugin, sum := buildExample(t, t.TempDir(), "game")
	edge := e2e.StartEdge(t, e2e.EdgeOptions{Configure: func(c *config.Config) {
		c.Plugins = map[string]config.Plugin{"game": {Path: plugin, SHA256: hex.EncodeToString(sum[:])}}
	}})
	key := e2e.NewKey(t, t.TempDir(), "id")

	s := edge.RunSSH(t, key, "v2@127.0.0.1", "help")
	if code := s.Wait(10 * time.Second); code != 0 {
		t.Fatalf("help: exit %d, want 0", code)
	}
	if got := s.Stdout.String(); !strings.Contains(got, "game      Publish a local game server at a public port") {
		t.Errorf("help does not list game with its manifest's summary:\n%s", got)
	}
	s = edge.RunSSH(t, key, "v2@127.0.0.1", "game", "--help")
	if code := s.Wait(10 * time.Second); code != 0 {
		t.Fatalf("game --help: exit %d, want 0", code)
	}
	for _, want := range []string{"Remote ports: 25565 or 0", "ssh -R 0:localhost:25565 v2@localhost -p " + edge.SSHPort + " game", "--cidr-allow CIDR"} {
		if !strings.Contains(s.Stdout.String(), want) {
			t.Errorf("game --help lacks %q:\n%s", want, s.Stdout)
		}
	}

	echo, _ := echoServer(t)
	s = edge.RunSSH(t, key, "-R", "8080:localhost:"+echo, "v2@127.0.0.1", "game")
	if code := s.Wait(10 * time.Second); code != 1 {
		t.Fatalf("-R 8080 game: exit %d (-1: still running after 10s), want 1; stderr %q", code, s.Stderr)
	}
	if got := s.Stderr.String(); !strings.Contains(got, "game endpoints listen on remote port 25565 or 0, not 8080") {
		t.Errorf("-R 8080 game: stderr %q lacks the remote-port sentence from the manifest", got)
	}

	s = edge.RunSSH(t, key, "-R", "0:localhost:"+echo, "v2@127.0.0.1", "game")
	url := s.URL(t)
	if !strings.HasPrefix(url, "tcp://localhost:300") {
		t.Fatalf("url %q, want tcp://localhost:PORT from the plugin's 30000-30099", url)
	}
	c, err := net.DialTimeout("tcp", tcpAddr(t, url), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip(t, c, 64<<10)
}
