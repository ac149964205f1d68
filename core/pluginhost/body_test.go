package pluginhost

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestCheckBody: a chain with a plugin that asks for bodies (the real
// verifywebhook plugin) says so, hands that plugin the body, and never
// reuses its verdicts: the same headers with another body are checked
// again. The refusal's owner note comes back as the decision's Notice.
func TestCheckBody(t *testing.T) {
	h, _ := startHost(t, []Spec{{Name: "verifywebhook"}, {Name: "basicauth"}}, Options{})
	const secret = "webhook-secret-1"
	c, err := h.Open(context.Background(), httpTunnel("t1", map[string]map[string][]string{
		"verifywebhook": {"verify-webhook": {"github"}, "verify-webhook-secret": {secret}},
	}), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer c.Close()
	if !c.WantsBody() {
		t.Fatal("WantsBody() = false for a chain with verifywebhook")
	}
	body := []byte(`{"action":"opened"}`)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	sig := "sha256=" + hex.EncodeToString(m.Sum(nil))
	for i, tt := range []struct {
		body    []byte
		respond bool
	}{{body, false}, {body, false}, {[]byte(`{"action":"closed"}`), true}, {body, false}} {
		r := httptest.NewRequest("POST", "https://t1.localhost/hook", strings.NewReader(string(tt.body)))
		r.Header.Set("X-Hub-Signature-256", sig)
		d, err := c.CheckBody(r, client, nil, tt.body)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if d.Respond != tt.respond || d.Cached {
			t.Fatalf("request %d: %+v, want respond %v and not cached", i, d, tt.respond)
		}
		if tt.respond && (d.Status != 403 || !strings.HasPrefix(d.Notice, "webhook signature did not verify (GitHub): signature mismatch")) {
			t.Errorf("request %d: status %d notice %q, want 403 with the reason", i, d.Status, d.Notice)
		}
	}
	if got := h.Calls(); got != 4 {
		t.Errorf("%d plugin calls for 4 requests, want 4 (body-dependent verdicts are never cached)", got)
	}

	other, err := h.Open(context.Background(), basicTunnel("t2", "ann:correct-horse"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if other.WantsBody() {
		t.Error("WantsBody() = true for a basic-auth chain")
	}
}

// BenchmarkCheckBody measures a Check that hands the verifywebhook plugin
// (a real process, over gRPC) a body of each size, signature verified:
// the cost docs/plugins.md quotes for plugins that ask for bodies.
func BenchmarkCheckBody(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10, 1 << 20} {
		b.Run(strconv.Itoa(size>>10)+"KiB", func(b *testing.B) {
			h, _ := startHost(b, []Spec{{Name: "verifywebhook"}}, Options{CallTimeout: 5 * time.Second})
			const secret = "bench-secret"
			c, err := h.Open(context.Background(), httpTunnel("t1", map[string]map[string][]string{
				"verifywebhook": {"verify-webhook": {"github"}, "verify-webhook-secret": {secret}},
			}), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			body := bytes.Repeat([]byte("x"), size)
			m := hmac.New(sha256.New, []byte(secret))
			m.Write(body)
			sig := "sha256=" + hex.EncodeToString(m.Sum(nil))
			r := httptest.NewRequest("POST", "https://t1.localhost/hook", nil)
			r.Header.Set("X-Hub-Signature-256", sig)
			b.SetBytes(int64(size))
			b.ResetTimer()
			for b.Loop() {
				d, err := c.CheckBody(r, client, nil, body)
				if err != nil || d.Respond {
					b.Fatalf("%+v, %v", d, err)
				}
			}
		})
	}
}
