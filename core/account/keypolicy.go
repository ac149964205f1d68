package account

import (
	"crypto/rsa"
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

// KeyRule says in words which keys CheckKeyType accepts.
var KeyRule = fmt.Sprintf("ed25519 or ECDSA (also on a security key), or RSA of %d to %d bits", MinRSABits, MaxRSABits)

// KeyTypeError is CheckKeyType's refusal; Reason is fit for the user.
type KeyTypeError struct{ Reason string }

func (e *KeyTypeError) Error() string { return "account: key refused: " + e.Reason }

// CheckKeyType refuses weak and oversized keys (DSA, RSA outside
// MinRSABits..MaxRSABits, certificates, unknown types) before any signature
// is verified, so a 16384-bit RSA key costs nothing. The SSH server and the
// management API both apply it, so a key the API accepts can log in.
func CheckKeyType(key ssh.PublicKey) error {
	switch key.Type() {
	case ssh.KeyAlgoED25519, ssh.KeyAlgoSKED25519,
		ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521, ssh.KeyAlgoSKECDSA256:
		return nil
	case ssh.KeyAlgoRSA:
		ck, ok := key.(ssh.CryptoPublicKey)
		if !ok {
			return &KeyTypeError{"the RSA key is unreadable"}
		}
		rk, ok := ck.CryptoPublicKey().(*rsa.PublicKey)
		if !ok {
			return &KeyTypeError{"the RSA key is unreadable"}
		}
		if n := rk.N.BitLen(); n < MinRSABits || n > MaxRSABits {
			return &KeyTypeError{fmt.Sprintf("an RSA key of %d bits (%d to %d allowed)", n, MinRSABits, MaxRSABits)}
		}
		return nil
	default:
		return &KeyTypeError{fmt.Sprintf("key type %s is not accepted", key.Type())}
	}
}

// ParseKey parses one authorized_keys line for an account: no options
// (from=, restrict, ...), a type CheckKeyType accepts. It returns the key
// and its comment; errors are sentences fit for the user.
func ParseKey(line string) (ssh.PublicKey, string, error) {
	key, comment, options, rest, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil && slices.Contains(strings.Fields(line), ssh.KeyAlgoDSA) {
		// x/crypto no longer parses DSA keys at all; say why, not "malformed".
		return nil, "", fmt.Errorf("the key is refused: key type %s is not accepted (use %s)", ssh.KeyAlgoDSA, KeyRule)
	}
	if err != nil {
		return nil, "", fmt.Errorf(`the public key is not an authorized_keys line (want e.g. "ssh-ed25519 AAAA... comment", the contents of your .pub file)`)
	}
	if len(rest) > 0 {
		return nil, "", fmt.Errorf("the public key holds more than one line: send one key at a time")
	}
	if len(options) > 0 {
		return nil, "", fmt.Errorf("authorized_keys options are not supported: send the key without them")
	}
	if err := CheckKeyType(key); err != nil {
		return nil, "", fmt.Errorf("the key %s is refused: %s", ssh.FingerprintSHA256(key), err.(*KeyTypeError).Reason)
	}
	return key, comment, nil
}
