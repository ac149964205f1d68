package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"testing"
	"time"
)

// RootPool returns a pool holding the PEM certificates of file.
func RootPool(t testing.TB, file string) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("%s holds no PEM certificate", file)
	}
	return pool
}

// HTTPSClient returns an HTTP client that sends every request to the
// edge's TLS port, whatever the URL's host, verifying the edge's
// certificates against roots. HTTP/2 is attempted.
func (e *Edge) HTTPSClient(t testing.TB, roots *x509.CertPool) *http.Client {
	t.Helper()
	addr := e.HTTPSAddr().String()
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig:   &tls.Config{RootCAs: roots},
		ForceAttemptHTTP2: true,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Timeout:       30 * time.Second,
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// DialTLS opens a TLS connection to the edge's TLS port with the given SNI
// name and client config (ServerName is set from sni).
func (e *Edge) DialTLS(sni string, cfg *tls.Config) (*tls.Conn, error) {
	c := cfg.Clone()
	c.ServerName = sni
	d := &net.Dialer{Timeout: 5 * time.Second}
	return tls.DialWithDialer(d, "tcp", e.HTTPSAddr().String(), c)
}
