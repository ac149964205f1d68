// Package sshkey holds the one rule for which SSH public keys the edge
// accepts, shared by the SSH server's login check and the store's key adds,
// and parses a single authorized_keys line.
package sshkey

import (
	"bytes"
	"crypto/rsa"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"
)

// The RSA key sizes accepted, in bits: below 2048 is breakable, above 8192
// only makes every signature check expensive.
const (
	MinRSABits = 2048
	MaxRSABits = 8192
)

// Rule says in words which keys Check accepts.
var Rule = fmt.Sprintf("ed25519 or ECDSA (also on a security key), or RSA of %d to %d bits", MinRSABits, MaxRSABits)

// RefusedError is Check's refusal; Reason is fit for the user.
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return "sshserver: key refused: " + e.Reason }

// Reason is the part of a Check error meant for the user.
func Reason(err error) string {
	var r *RefusedError
	if errors.As(err, &r) {
		return r.Reason
	}
	return "it cannot be used here"
}

// Check refuses weak (DSA, RSA under MinRSABits) and oversized keys; it
// reads only the public key, so it costs nothing.
func Check(key ssh.PublicKey) error {
	switch key.Type() {
	case ssh.KeyAlgoED25519, ssh.KeyAlgoSKED25519,
		ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521, ssh.KeyAlgoSKECDSA256:
		return nil
	case ssh.KeyAlgoRSA:
		ck, ok := key.(ssh.CryptoPublicKey)
		if !ok {
			return &RefusedError{"the RSA key is unreadable"}
		}
		rk, ok := ck.CryptoPublicKey().(*rsa.PublicKey)
		if !ok {
			return &RefusedError{"the RSA key is unreadable"}
		}
		if n := rk.N.BitLen(); n < MinRSABits || n > MaxRSABits {
			return &RefusedError{fmt.Sprintf("an RSA key of %d bits (%d to %d allowed)", n, MinRSABits, MaxRSABits)}
		}
		return nil
	default:
		return &RefusedError{fmt.Sprintf("key type %s is not accepted", key.Type())}
	}
}

// ParseLine parses one authorized_keys line ("ssh-ed25519 AAAA… comment"),
// refusing options (from=, restrict, …: ignoring them would grant more
// than written), more than one line, and keys Check refuses. Errors are
// sentences for the user.
func ParseLine(line string) (key ssh.PublicKey, comment string, err error) {
	line = strings.TrimSpace(line)
	if line == "" || strings.ContainsAny(line, "\r\n") {
		return nil, "", errors.New("give exactly one public key line, e.g. \"ssh-ed25519 AAAA... you@laptop\" (the .pub file, never the private key)")
	}
	key, comment, options, rest, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil && slices.Contains(strings.Fields(line), ssh.KeyAlgoDSA) {
		// x/crypto no longer parses DSA keys at all; say why, not "malformed".
		return nil, "", fmt.Errorf("this key is refused: key type %s is not accepted (use %s); make an ed25519 key with: ssh-keygen -t ed25519", ssh.KeyAlgoDSA, Rule)
	}
	if err != nil || len(bytes.TrimSpace(rest)) > 0 {
		return nil, "", errors.New("this is not a public key line: give the contents of your .pub file, e.g. \"ssh-ed25519 AAAA... you@laptop\"")
	}
	if len(options) > 0 {
		return nil, "", fmt.Errorf("authorized_keys options (%s) are not supported; remove them", strings.Join(options, ","))
	}
	if err := Check(key); err != nil {
		return nil, "", fmt.Errorf("this key is refused: %s; make an ed25519 key with: ssh-keygen -t ed25519", Reason(err))
	}
	return key, comment, nil
}
