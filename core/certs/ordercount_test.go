package certs

import (
	"context"
	"testing"

	"golang.org/x/crypto/acme/autocert"
)

// TestOrderCountingCache: a certificate written to the cache counts as an
// issued order; the account key and challenge entries do not, and a failed
// write counts nothing.
func TestOrderCountingCache(t *testing.T) {
	tests := []struct {
		name string
		key  string
		want int
	}{
		{"ecdsa certificate", "app.example.org", 1},
		{"rsa certificate", "app.example.org+rsa", 1},
		{"account key", "acme_account+key", 0},
		{"tls-alpn-01 token certificate", "app.example.org+token", 0},
		{"http-01 token", "abc123+http-01", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := 0
			c := &orderCountingCache{Cache: autocert.DirCache(t.TempDir()), issued: func() { n++ }}
			if err := c.Put(context.Background(), tt.key, []byte("x")); err != nil {
				t.Fatal(err)
			}
			if n != tt.want {
				t.Errorf("Put(%q) counted %d orders, want %d", tt.key, n, tt.want)
			}
		})
	}
	t.Run("failed write", func(t *testing.T) {
		n := 0
		c := &orderCountingCache{Cache: autocert.DirCache("/dev/null/nowhere"), issued: func() { n++ }}
		if err := c.Put(context.Background(), "app.example.org", []byte("x")); err == nil {
			t.Fatal("Put into /dev/null/nowhere succeeded")
		}
		if n != 0 {
			t.Errorf("a failed write counted %d orders, want 0", n)
		}
	})
}
