package e2e_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/config"
	"github.com/sshgress/sshgress/e2e"
	"github.com/sshgress/sshgress/plugins/verifywebhook"
	"github.com/sshgress/sshgress/sdk"
)

// bodyRecorder is a backend that keeps every body it was sent.
type bodyRecorder struct {
	mu     sync.Mutex
	bodies [][]byte
}

func (b *bodyRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	b.mu.Lock()
	b.bodies = append(b.bodies, body)
	b.mu.Unlock()
	io.WriteString(w, "received")
}

func (b *bodyRecorder) got() [][]byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([][]byte(nil), b.bodies...)
}

// curlPost POSTs the file at path to url with the real curl, with the
// extra header lines, and returns the status.
func curlPost(t *testing.T, edge *e2e.Edge, url, path string, headers ...string) int {
	t.Helper()
	name, port, _ := strings.Cut(e2e.Host(url), ":")
	args := []string{"-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10",
		"--connect-to", fmt.Sprintf("%s:%s:%s", name, port, edge.HTTPAddr().String()),
		"-H", "Content-Type: application/json", "--data-binary", "@" + path}
	for _, h := range headers {
		args = append(args, "-H", h)
	}
	out, err := exec.Command("curl", append(args, url+"/hook")...).Output()
	if err != nil {
		t.Fatalf("curl: %v", err)
	}
	code, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	return code
}

func hexHMAC(secret string, parts ...string) string {
	m := hmac.New(sha256.New, []byte(secret))
	for _, p := range parts {
		m.Write([]byte(p))
	}
	return hex.EncodeToString(m.Sum(nil))
}

// TestVerifyWebhook: through the real OpenSSH client and curl, GitHub-
// and Stripe-signed POSTs reach the service byte for byte; a tampered or
// unsigned one gets 403, never reaches it, and the owner's session says
// why; a body over http.middleware_body_limit gets 413; bad flags are
// refused at bind; the flags are in --help.
func TestVerifyWebhook(t *testing.T) {
	e2e.RequireSSH(t)
	e2e.RequireTool(t, "curl", "curl")
	edge := e2e.StartEdge(t, e2e.EdgeOptions{
		Binary:  e2e.SharedBinary(t),
		Bundled: []sdk.Manifest{verifywebhook.New().Manifest()},
		Configure: func(c *config.Config) {
			yes := true
			c.Plugins = map[string]config.Plugin{verifywebhook.Name: {Enabled: &yes}}
			c.HTTP.MiddlewareBodyLimit = 64 << 10
		},
	})
	be := &bodyRecorder{}
	port := serveBackend(t, be)
	key := e2e.NewKey(t, t.TempDir(), "id")
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	body := []byte(`{"ref":"refs/heads/main","commits":[{"id":"0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"}]}` + "\n")
	bodyFile := write("body.json", body)

	t.Run("github", func(t *testing.T) {
		const secret = "gh-webhook-secret"
		s := edge.RunSSH(t, key, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http",
			"--verify-webhook", "github", "--verify-webhook-secret", secret)
		url := s.URL(t)
		s.WaitOutput(t, "webhook signatures (GitHub)", 5*time.Second)
		before := len(be.got())
		if code := curlPost(t, edge, url, bodyFile, "X-Hub-Signature-256: sha256="+hexHMAC(secret, string(body))); code != 200 {
			t.Fatalf("signed POST: status %d, want 200", code)
		}
		got := be.got()
		if len(got) != before+1 || !bytes.Equal(got[len(got)-1], body) {
			t.Fatalf("the service did not get the body byte for byte: %q", got[before:])
		}
		tampered := write("tampered.json", bytes.Replace(body, []byte("main"), []byte("evil"), 1))
		if code := curlPost(t, edge, url, tampered, "X-Hub-Signature-256: sha256="+hexHMAC(secret, string(body))); code != 403 {
			t.Errorf("tampered POST: status %d, want 403", code)
		}
		if code := curlPost(t, edge, url, bodyFile); code != 403 {
			t.Errorf("unsigned POST: status %d, want 403", code)
		}
		if n := len(be.got()); n != before+1 {
			t.Errorf("the service got %d refused requests", n-before-1)
		}
		s.WaitOutput(t, "webhook signature did not verify (GitHub): signature mismatch", 5*time.Second)
		s.WaitOutput(t, "webhook signature did not verify (GitHub): no X-Hub-Signature-256 header", 5*time.Second)
		if strings.Contains(s.Stdout.String(), secret) {
			t.Error("the session shows the secret")
		}
		big := write("big.json", bytes.Repeat([]byte("x"), 64<<10+1))
		if code := curlPost(t, edge, url, big, "X-Hub-Signature-256: sha256=00"); code != 413 {
			t.Errorf("POST over the body limit: status %d, want 413", code)
		}
		if n := len(be.got()); n != before+1 {
			t.Errorf("the service got the oversized body")
		}
	})
	t.Run("stripe", func(t *testing.T) {
		const secret = "whsec_stripe_test_secret"
		s := edge.RunSSH(t, key, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http",
			"--verify-webhook", "stripe", "--verify-webhook-secret", secret)
		url := s.URL(t)
		now := strconv.FormatInt(time.Now().Unix(), 10)
		old := strconv.FormatInt(time.Now().Add(-10*time.Minute).Unix(), 10)
		if code := curlPost(t, edge, url, bodyFile, "Stripe-Signature: t="+now+",v1="+hexHMAC(secret, now, ".", string(body))); code != 200 {
			t.Fatalf("signed POST: status %d, want 200", code)
		}
		if code := curlPost(t, edge, url, bodyFile, "Stripe-Signature: t="+old+",v1="+hexHMAC(secret, old, ".", string(body))); code != 403 {
			t.Errorf("replayed POST: status %d, want 403", code)
		}
		s.WaitOutput(t, "outside the 5m0s tolerance", 5*time.Second)
	})
	t.Run("bad flags", func(t *testing.T) {
		httpRefused(t, edge, key, port, `--verify-webhook: unknown provider "bitbucket"`, "--verify-webhook", "bitbucket", "--verify-webhook-secret", "x")
		httpRefused(t, edge, key, port, "--verify-webhook github needs --verify-webhook-secret SECRET", "--verify-webhook", "github")
	})
	t.Run("help", func(t *testing.T) {
		httpHelpLists(t, edge, key, "--verify-webhook PROVIDER", "--verify-webhook-secret SECRET", "--verify-webhook-header NAME")
	})
}

// TestVerifyWebhookDisabled: with the plugin off, --verify-webhook names
// the plugin it needs.
func TestVerifyWebhookDisabled(t *testing.T) {
	e2e.RequireSSH(t)
	port := serveBackend(t, &bodyRecorder{})
	edge := e2e.StartEdge(t, e2e.EdgeOptions{
		Binary:  e2e.SharedBinary(t),
		Bundled: []sdk.Manifest{verifywebhook.New().Manifest()},
	})
	key := e2e.NewKey(t, t.TempDir(), "id")
	httpRefused(t, edge, key, port, "--verify-webhook on http endpoints needs the verifywebhook plugin, which is not enabled on this server.", "--verify-webhook", "github", "--verify-webhook-secret", "x")
}
