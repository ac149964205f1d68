// Package certs chooses the certificate for each name the edge terminates
// TLS for: the operator's certificate files (reloaded when they change),
// ACME for reserved custom domains that are bound (through
// golang.org/x/crypto/acme/autocert), and otherwise a local CA generated in
// the data directory, so https works on a laptop with no configuration.
package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// File names of the local CA inside its directory.
const (
	RootCertFile = "root.pem"
	RootKeyFile  = "root-key.pem"
)

const (
	rootValidity = 10 * 365 * 24 * time.Hour
	leafValidity = 30 * 24 * time.Hour
	// leafRenew is how long before expiry a cached leaf is replaced.
	leafRenew = 7 * 24 * time.Hour
	// maxLeaves bounds the cached leaf certificates; the cache is emptied
	// when full (names are only issued for bound routes).
	maxLeaves = 4096
)

// LocalCA is a certificate authority kept in a directory: an ECDSA P-256
// root (key mode 0600) that issues leaf certificates on demand, cached in
// memory. Visitors trust it by importing the root (RootPath).
type LocalCA struct {
	dir  string
	root *x509.Certificate
	key  crypto.Signer

	mu     sync.Mutex
	leaves map[string]*tls.Certificate
}

// LoadOrCreateCA loads the CA in dir, creating dir (0700) and a new root
// when none exists. created reports a new root.
func LoadOrCreateCA(dir string) (ca *LocalCA, created bool, err error) {
	certPath, keyPath := filepath.Join(dir, RootCertFile), filepath.Join(dir, RootKeyFile)
	certPEM, err1 := os.ReadFile(certPath)
	keyPEM, err2 := os.ReadFile(keyPath)
	if err1 == nil && err2 == nil {
		ca, err := parseCA(dir, certPEM, keyPEM)
		return ca, false, err
	}
	if !errors.Is(err1, os.ErrNotExist) && err1 != nil {
		return nil, false, fmt.Errorf("certs: local ca: %w", err1)
	}
	if !errors.Is(err2, os.ErrNotExist) && err2 != nil {
		return nil, false, fmt.Errorf("certs: local ca: %w", err2)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("certs: local ca: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, false, fmt.Errorf("certs: local ca: %w", err)
	}
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "sshgress local CA " + host, Organization: []string{"sshgress local CA"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(rootValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, false, fmt.Errorf("certs: local ca: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, false, fmt.Errorf("certs: local ca: %w", err)
	}
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		return nil, false, fmt.Errorf("certs: local ca: %w", err)
	}
	if err := os.WriteFile(certPath, certPEM, 0o644); err != nil {
		return nil, false, fmt.Errorf("certs: local ca: %w", err)
	}
	ca, err = parseCA(dir, certPEM, keyPEM)
	return ca, true, err
}

func parseCA(dir string, certPEM, keyPEM []byte) (*LocalCA, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("certs: local ca in %s: %w", dir, err)
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok || pair.Leaf == nil || !pair.Leaf.IsCA {
		return nil, fmt.Errorf("certs: local ca in %s: not a CA certificate and key", dir)
	}
	return &LocalCA{dir: dir, root: pair.Leaf, key: signer, leaves: map[string]*tls.Certificate{}}, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

// RootPath is the root certificate's PEM file, for visitors to trust.
func (ca *LocalCA) RootPath() string { return filepath.Join(ca.dir, RootCertFile) }

// Root returns the root certificate.
func (ca *LocalCA) Root() *x509.Certificate { return ca.root }

// Certificate returns a leaf certificate for the normalised name, issuing
// one when none is cached or the cached one is about to expire.
func (ca *LocalCA) Certificate(name string) (*tls.Certificate, error) {
	now := time.Now()
	ca.mu.Lock()
	defer ca.mu.Unlock()
	if c := ca.leaves[name]; c != nil && now.Add(leafRenew).Before(c.Leaf.NotAfter) {
		return c, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certs: issue %s: %w", name, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(leafValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.root, key.Public(), ca.key)
	if err != nil {
		return nil, fmt.Errorf("certs: issue %s: %w", name, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certs: issue %s: %w", name, err)
	}
	c := &tls.Certificate{Certificate: [][]byte{der, ca.root.Raw}, PrivateKey: key, Leaf: leaf}
	if len(ca.leaves) >= maxLeaves {
		clear(ca.leaves)
	}
	ca.leaves[name] = c
	return c, nil
}
