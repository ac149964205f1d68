package certs

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLocalCA(t *testing.T) {
	dir := t.TempDir()
	ca, created, err := LoadOrCreateCA(dir)
	if err != nil || !created {
		t.Fatalf("LoadOrCreateCA = %v, created %v", err, created)
	}
	if st, err := os.Stat(filepath.Join(dir, RootKeyFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("root key mode %v, %v; want 0600", st.Mode().Perm(), err)
	}
	again, created, err := LoadOrCreateCA(dir)
	if err != nil || created || !again.Root().Equal(ca.Root()) {
		t.Fatalf("reload: %v, created %v", err, created)
	}
	c, err := ca.Certificate("app.localhost")
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Root())
	if _, err := c.Leaf.Verify(x509.VerifyOptions{DNSName: "app.localhost", Roots: pool}); err != nil {
		t.Errorf("leaf does not verify: %v", err)
	}
	if c2, _ := ca.Certificate("app.localhost"); c2 != c {
		t.Errorf("leaf not cached")
	}
}

func writePair(t *testing.T, ca *LocalCA, name, certPath, keyPath string) {
	t.Helper()
	c, err := ca.Certificate(name)
	if err != nil {
		t.Fatal(err)
	}
	var chain []byte
	for _, der := range c.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	k, _ := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: k}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certPath, chain, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestFileCertReload(t *testing.T) {
	dir := t.TempDir()
	ca, _, _ := LoadOrCreateCA(filepath.Join(dir, "ca"))
	certPath, keyPath := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	writePair(t, ca, "*.example.com", certPath, keyPath)
	m, err := New(Options{CertFile: certPath, KeyFile: keyPath, CADir: filepath.Join(dir, "ca")})
	if err != nil {
		t.Fatal(err)
	}
	get := func(name string) *tls.Certificate {
		c, err := m.GetCertificate(&tls.ClientHelloInfo{ServerName: name})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	first := get("a.example.com")
	if first.Leaf.Subject.CommonName != "*.example.com" {
		t.Fatalf("got %q, want the operator's wildcard", first.Leaf.Subject.CommonName)
	}
	if got := get("other.org"); got.Leaf.Subject.CommonName != "other.org" {
		t.Errorf("uncovered name got %q, want a local CA leaf", got.Leaf.Subject.CommonName)
	}
	clear(ca.leaves)
	writePair(t, ca, "*.example.com", certPath, keyPath) // a renewal
	future := time.Now().Add(2 * time.Second)
	os.Chtimes(certPath, future, future)
	time.Sleep(reloadEvery + 100*time.Millisecond)
	if got := get("a.example.com"); got.Leaf.SerialNumber.Cmp(first.Leaf.SerialNumber) == 0 {
		t.Errorf("certificate not reloaded after the files changed")
	}
	os.WriteFile(certPath, []byte("half-written"), 0o600)
	os.Chtimes(certPath, future.Add(time.Second), future.Add(time.Second))
	time.Sleep(reloadEvery + 100*time.Millisecond)
	if got := get("a.example.com"); got == nil || got.Leaf.Subject.CommonName != "*.example.com" {
		t.Errorf("a broken reload dropped the previous certificate")
	}
}

func TestOrderLimiter(t *testing.T) {
	l := newOrderLimiter(2, time.Hour)
	now := time.Now()
	for i, want := range []bool{true, true, false} {
		if got := l.take(now); got != want {
			t.Errorf("take %d = %v, want %v", i, got, want)
		}
	}
	if !l.take(now.Add(time.Hour)) {
		t.Errorf("take after the window = false, want true")
	}
}

// TestTrustHintHasPort: the start-up hint's curl command works as printed,
// so it names the TLS port unless it is 443.
func TestTrustHintHasPort(t *testing.T) {
	for _, tc := range []struct {
		port int
		want string
	}{
		{8443, " https://NAME:8443/ "},
		{443, " https://NAME/ "},
		{0, " https://NAME/ "},
	} {
		var logs strings.Builder
		_, err := New(Options{CADir: t.TempDir(), PublicPort: tc.port, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(logs.String(), "curl --cacert ") || !strings.Contains(logs.String(), tc.want) {
			t.Errorf("port %d: start-up log %q lacks %q", tc.port, logs.String(), tc.want)
		}
	}
}

// TestSwapFiles: a pair read from other files serves the next handshake;
// a pair that does not match is refused with both files named, and the
// one in use stays.
func TestSwapFiles(t *testing.T) {
	dir := t.TempDir()
	ca, _, _ := LoadOrCreateCA(filepath.Join(dir, "ca"))
	oldCert, oldKey := filepath.Join(dir, "old.pem"), filepath.Join(dir, "old-key.pem")
	writePair(t, ca, "a.example.com", oldCert, oldKey)
	clear(ca.leaves)
	newCert, newKey := filepath.Join(dir, "new.pem"), filepath.Join(dir, "new-key.pem")
	writePair(t, ca, "a.example.com", newCert, newKey)
	m, err := New(Options{CertFile: oldCert, KeyFile: oldKey, CADir: filepath.Join(dir, "ca")})
	if err != nil {
		t.Fatal(err)
	}
	serial := func() string {
		c, err := m.GetCertificate(&tls.ClientHelloInfo{ServerName: "a.example.com"})
		if err != nil {
			t.Fatal(err)
		}
		return c.Leaf.SerialNumber.String()
	}
	before := serial()
	if _, err := ReadPair("https", newCert, oldKey); err == nil || !strings.Contains(err.Error(), newCert) || !strings.Contains(err.Error(), oldKey) {
		t.Errorf("ReadPair of a mismatched pair = %v, want an error naming %s and %s", err, newCert, oldKey)
	}
	if got := serial(); got != before {
		t.Errorf("a refused pair changed the certificate in use")
	}
	p, err := ReadPair("https", newCert, newKey)
	if err != nil {
		t.Fatal(err)
	}
	m.SwapFiles(p)
	if got := serial(); got == before {
		t.Errorf("after SwapFiles the handshake still gets serial %s", got)
	}
}
