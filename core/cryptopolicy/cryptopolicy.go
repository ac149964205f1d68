// Package cryptopolicy is the edge's one list of cryptographic algorithms:
// the SSH key exchanges, ciphers and MACs and the TLS 1.2 cipher suites it
// offers by default, and the SSH algorithms an operator may add back in
// config (ssh.key_exchanges, ssh.ciphers, ssh.macs). The config, the SSH
// server and the TLS port all read these lists; nothing else writes one.
//
// The defaults are what the audit tools pass without a fail or a warning
// (ssh-audit against the SSH port, testssl.sh against the TLS port; both
// run in core's tests) while the clients the edge supports still connect:
// OpenSSH 7.4 and later, PuTTY 0.76 and later (0.76 and 0.77 lack AES-GCM:
// see Ciphers), current browsers and curl. SECURITY.md explains each
// choice. Strict key exchange (the Terrapin countermeasure) is negotiated
// by x/crypto whatever these lists say.
package cryptopolicy

import (
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"
)

// Family is one kind of SSH algorithm: the names offered by default, in
// the edge's order of preference, and the ones an operator may add.
type Family struct {
	// Name is what the family is called in messages ("key exchange").
	Name string
	// Default is offered when the config names none.
	Default []string
	// Optional may be added in config, for clients that lack every
	// default; each is weaker by some measure, which SECURITY.md names.
	Optional []string
}

// Defaults returns a copy of the default list, for a caller to own.
func (f Family) Defaults() []string { return slices.Clone(f.Default) }

// Allowed returns every name a config may list, defaults first.
func (f Family) Allowed() []string { return slices.Concat(f.Default, f.Optional) }

// Check reports whether names is a usable list: not empty, every name
// allowed, none twice. The error says which name and what is allowed; the
// caller prefixes the config key.
func (f Family) Check(names []string) error {
	if len(names) == 0 {
		return fmt.Errorf("must list at least one %s algorithm", f.Name)
	}
	allowed := f.Allowed()
	var errs []error
	for i, name := range names {
		switch {
		case !slices.Contains(allowed, name):
			errs = append(errs, fmt.Errorf("%q is not allowed (choose from %s)", name, strings.Join(allowed, ", ")))
		case slices.Index(names, name) < i:
			errs = append(errs, fmt.Errorf("%q is listed twice", name))
		}
	}
	return errors.Join(errs...)
}

// KeyExchanges: hybrid post-quantum ML-KEM with X25519 first (OpenSSH
// 9.9+), X25519 (OpenSSH 7.4+ under this name; x/crypto also offers the
// older curve25519-sha256@libssh.org alias, for clients that know only
// that one) and the 4096-bit group 16 (OpenSSH 7.3+) for clients without
// X25519.
// The NIST-curve exchanges are optional: ssh-audit fails them (curves
// whose constants nobody can explain), and every supported client speaks
// X25519. No SHA-1 exchange is offered or allowed.
var KeyExchanges = Family{
	Name: "key exchange",
	Default: []string{
		ssh.KeyExchangeMLKEM768X25519,
		ssh.KeyExchangeCurve25519,
		ssh.KeyExchangeDH16SHA512,
	},
	Optional: []string{
		ssh.KeyExchangeECDHP256,
		ssh.KeyExchangeECDHP384,
		ssh.KeyExchangeECDHP521,
		ssh.KeyExchangeDH14SHA256,
	},
}

// Ciphers: AES-GCM only. The client's order decides which cipher is used,
// and OpenSSH's puts chacha20-poly1305 and AES-CTR before AES-GCM; in Go
// chacha20 has no assembly and AES-CTR needs a separate HMAC pass, so
// offering either makes every OpenSSH client cost the edge far more per
// byte (docs/performance.md has the numbers). OpenSSH has AES-GCM since
// 6.2, PuTTY since 0.78: sshserver offers PuTTY 0.76 and 0.77 alone
// chacha20-poly1305 as well, found by their identification line. No CBC
// or RC4 cipher is allowed.
var Ciphers = Family{
	Name: "cipher",
	Default: []string{
		ssh.CipherAES128GCM,
		ssh.CipherAES256GCM,
	},
	Optional: []string{
		ssh.CipherChaCha20Poly1305,
		ssh.CipherAES128CTR,
		ssh.CipherAES192CTR,
		ssh.CipherAES256CTR,
	},
}

// MACs: encrypt-then-MAC SHA-2 only. AES-GCM and chacha20-poly1305 carry
// their own authentication, so a MAC is negotiated only for AES-CTR. The
// encrypt-and-MAC variants are optional (ssh-audit warns on them: the MAC
// is computed over the plaintext); no SHA-1 MAC is offered or allowed.
var MACs = Family{
	Name: "MAC",
	Default: []string{
		ssh.HMACSHA256ETM,
		ssh.HMACSHA512ETM,
	},
	Optional: []string{
		ssh.HMACSHA256,
		ssh.HMACSHA512,
	},
}

// TLS12CipherSuites are the TLS 1.2 suites the TLS port offers: ECDHE
// with AES-GCM or ChaCha20-Poly1305, for ECDSA and RSA certificates. Go's
// default list adds the CBC-SHA1 suites, which testssl.sh reports as
// potentially vulnerable to LUCKY13; every browser and curl of the last
// decade has an AEAD suite, and most use TLS 1.3 anyway, whose suites Go
// fixes (all AEAD).
var TLS12CipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}
