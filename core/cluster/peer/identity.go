// Package peer is the link between the nodes of a cluster: mutual TLS
// under a certificate authority every node derives from the cluster secret
// (secret_file), a PROXY v2 header that names the visitor and the public
// name a relayed stream is for, a one-byte verdict from the owner, and
// handshaken connections kept warm so a relayed visitor does not wait for
// a TLS handshake.
//
// Nothing here is reachable by the public: the peer listener is its own
// port (cluster.peer_addr), and it answers only to a client certificate
// signed by the cluster's authority.
package peer

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strings"
	"time"

	"github.com/sshgress/sshgress/core/route/dnsname"
)

// SecretMin is the fewest bytes a cluster secret may have.
const SecretMin = 32

// secretMax bounds the secret file read.
const secretMax = 64 << 10

// alpn names the peer protocol in the TLS handshake, so that no other TLS
// client or server of the same authority can be mistaken for a peer.
const alpn = "sshgress-peer/1"

// caEpoch and caUntil are the authority's fixed validity: every node must
// derive the same certificate, byte for byte.
var (
	caEpoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	caUntil = time.Date(2125, 1, 1, 0, 0, 0, 0, time.UTC)
)

// leafLife is how long a node's own certificate is valid; a node makes a
// new one each start, so this only bounds a leaked key.
const leafLife = 400 * 24 * time.Hour

// Identity is a node's credentials on the peer link: its name, a fresh
// key and certificate, and the cluster's authority.
type Identity struct {
	node  string
	leaf  tls.Certificate
	roots *x509.CertPool
	// caFingerprint identifies the authority (and so the secret) without
	// revealing it: two nodes that disagree cannot be peers.
	caFingerprint [sha256.Size]byte
}

// ReadSecret reads a cluster secret file: at least SecretMin bytes
// (surrounding white space is ignored), readable by its owner only.
func ReadSecret(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("cluster: secret_file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("cluster: secret_file %s is readable by others (mode %o); chmod 600 it", path, fi.Mode().Perm())
	}
	if fi.Size() > secretMax {
		return nil, fmt.Errorf("cluster: secret_file %s is %d bytes; at most %d", path, fi.Size(), secretMax)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cluster: secret_file: %w", err)
	}
	b = []byte(strings.TrimSpace(string(b)))
	if len(b) < SecretMin {
		return nil, fmt.Errorf("cluster: secret_file %s holds %d bytes; at least %d (make one with: head -c 48 /dev/urandom | base64 > %s)", path, len(b), SecretMin, path)
	}
	return b, nil
}

// DeriveKey returns a 32-byte key for one purpose (the peer authority,
// the encryption of secrets kept in etcd, …) derived from the cluster
// secret: one secret file, independent keys.
func DeriveKey(secret []byte, purpose string) ([]byte, error) {
	if len(secret) < SecretMin {
		return nil, fmt.Errorf("cluster: secret of %d bytes; at least %d", len(secret), SecretMin)
	}
	return hkdf.Key(sha256.New, secret, []byte("sshgress cluster v1"), purpose, 32)
}

// NewIdentity derives the cluster's authority from secret and makes node's
// certificate under it. node must be a DNS label (it is the name a peer
// verifies when it dials this node).
func NewIdentity(secret []byte, node string) (*Identity, error) {
	if err := checkNode(node); err != nil {
		return nil, err
	}
	seed, err := DeriveKey(secret, "peer authority")
	if err != nil {
		return nil, err
	}
	caKey := ed25519.NewKeyFromSeed(seed)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "sshgress cluster peer authority"},
		NotBefore:             caEpoch,
		NotAfter:              caUntil,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	// Ed25519 signatures are deterministic: every node derives the same
	// authority certificate from the same secret.
	caDER, err := x509.CreateCertificate(nil, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("cluster: peer authority: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("cluster: peer authority: %w", err)
	}

	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("cluster: node key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return nil, fmt.Errorf("cluster: node certificate: %w", err)
	}
	now := time.Now()
	leafTmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: node},
		DNSNames:     []string{node},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(leafLife),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, pub, caKey)
	if err != nil {
		return nil, fmt.Errorf("cluster: node certificate: %w", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	return &Identity{
		node:          node,
		leaf:          tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: key},
		roots:         roots,
		caFingerprint: sha256.Sum256(caDER),
	}, nil
}

// Node is the node's name.
func (id *Identity) Node() string { return id.node }

// Fingerprint identifies the cluster's authority (a hash of its
// certificate, which the secret determines): nodes whose fingerprints
// differ have different secrets. It reveals nothing of the secret.
func (id *Identity) Fingerprint() string { return fmt.Sprintf("%x", id.caFingerprint[:8]) }

// ServerConfig is the TLS configuration of the peer listener: TLS 1.3, a
// client certificate of the cluster's authority required.
func (id *Identity) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{id.leaf},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    id.roots,
		NextProtos:   []string{alpn},
		VerifyPeerCertificate: func(_ [][]byte, chains [][]*x509.Certificate) error {
			if len(chains) == 0 || len(chains[0]) == 0 || checkNode(chains[0][0].Subject.CommonName) != nil {
				return errors.New("cluster: peer certificate names no node")
			}
			return nil
		},
	}
}

// ClientConfig is the TLS configuration for dialing node: its certificate
// must be of the cluster's authority and name node, so a stale address
// that now belongs to another node is refused rather than relayed to.
func (id *Identity) ClientConfig(node string) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{id.leaf},
		RootCAs:      id.roots,
		ServerName:   node,
		NextProtos:   []string{alpn},
	}
}

// checkNode accepts a node name that is one lower-case DNS label.
func checkNode(node string) error {
	n, err := dnsname.Normalize(node)
	if err != nil || n != node || strings.Contains(n, ".") || len(n) > 63 {
		return fmt.Errorf("cluster: node %q: a node name is one lower-case DNS label (letters, digits, inner hyphens, at most 63)", node)
	}
	return nil
}
