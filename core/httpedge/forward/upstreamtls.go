package forward

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/sshgress/sshgress/core/tunnel"
)

// tlsSessionCacheSize is how many TLS sessions to the tunnel owner's
// service an Upstream keeps for resumption (each new pooled connection
// resumes instead of doing a full handshake).
const tlsSessionCacheSize = 16

// UpstreamTLS configures TLS from the edge to the tunnel owner's local
// service, inside the SSH channel (--upstream-tls).
type UpstreamTLS struct {
	// ServerName is sent as SNI and, with Verify, is the name the
	// service's certificate must hold. "" means "localhost".
	ServerName string
	// Verify checks the service's certificate against Roots and
	// ServerName (--upstream-tls-verify, on by default). Off, any
	// certificate is accepted: the bytes are still encrypted between the
	// edge and the service, but not authenticated.
	Verify bool
	// Roots are the CAs trusted with Verify; nil means the system roots.
	Roots *x509.CertPool
}

// config returns the tls.Config for u's connections, with the ALPN
// protocols protos.
func (t UpstreamTLS) config(protos ...string) *tls.Config {
	name := t.ServerName
	if name == "" {
		name = "localhost"
	}
	return &tls.Config{
		ServerName:         name,
		RootCAs:            t.Roots,
		InsecureSkipVerify: !t.Verify, // the owner's explicit --upstream-tls-verify=false
		MinVersion:         tls.VersionTLS12,
		NextProtos:         protos,
		ClientSessionCache: tls.NewLRUClientSessionCache(tlsSessionCacheSize),
	}
}

// UpstreamTLSError is a failed TLS handshake with the tunnel owner's
// service. Its Hint is a sentence for the owner's session.
type UpstreamTLSError struct {
	err error
	// Unverified: the handshake failed on the service's certificate.
	Unverified bool
	hint       string // Hint's sentence, when not the generic one
}

func (e *UpstreamTLSError) Error() string { return "forward: upstream tls: " + e.err.Error() }
func (e *UpstreamTLSError) Unwrap() error { return e.err }

// Hint is what the tunnel's owner is told: what failed and what to do.
func (e *UpstreamTLSError) Hint() string {
	if e.hint != "" {
		return e.hint
	}
	if e.Unverified {
		return fmt.Sprintf("upstream TLS: your service's certificate did not verify (%v); for a self-signed local service add --upstream-tls-verify=false", certReason(e.err))
	}
	return "upstream TLS: the TLS handshake with your service failed; is it serving https on the forwarded port? (without --upstream-tls the edge speaks plain http to it)"
}

// HintError is a failure to talk to the owner's service that the owner
// can fix: Hint says how, for their session.
type HintError interface {
	error
	Hint() string
}

var (
	_ HintError = (*UpstreamTLSError)(nil)
	_ HintError = (*protocolError)(nil)
)

// protocolError is a request --upstream-protocol http2 could not carry
// because the service does not speak HTTP/2 the way it was asked to.
type protocolError struct{ err error }

func (e *protocolError) Error() string { return "forward: http2 upstream: " + e.err.Error() }
func (e *protocolError) Unwrap() error { return e.err }

func (e *protocolError) Hint() string {
	return "upstream HTTP/2: your service did not answer in HTTP/2 (--upstream-protocol http2 speaks h2c, HTTP/2 without TLS, unless --upstream-tls is given); drop the flag to speak HTTP/1.1 to it"
}

// certReason is the short reason a certificate failed verification.
func certReason(err error) string {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &unknown):
		return "signed by an unknown authority"
	case errors.As(err, &host):
		return "it is not valid for " + host.Host
	case errors.As(err, &invalid):
		if invalid.Reason == x509.Expired {
			return "it has expired or is not yet valid"
		}
		return "it is not valid"
	}
	return "it was refused"
}

// tlsHandshake speaks TLS with cfg over c, bounded by ctx; c is closed
// when it fails.
func tlsHandshake(ctx context.Context, c tunnel.Conn, cfg *tls.Config) (*tls.Conn, error) {
	tc := tls.Client(tunnel.NetConn(c), cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = c.Close()
		var verr *tls.CertificateVerificationError
		return nil, &UpstreamTLSError{err: err, Unverified: errors.As(err, &verr)}
	}
	return tc, nil
}

// UseTLS makes u speak TLS with t over each connection it opens, for
// HTTP/1.1 (--upstream-tls); UseHTTP2 takes its own. Sessions are
// resumed across u's connections. Call it before the first Forward.
func (u *Upstream) UseTLS(t UpstreamTLS) { u.tls = t.config("http/1.1") }

// The tls.Conn is what TLSDial hands the pool: a tunnel.Conn.
var _ tunnel.Conn = (*tls.Conn)(nil)
