package oauth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// purpose separates the kinds of sealed values: each has its own key, so a
// ticket can never pass for a session or a state.
type purpose string

const (
	purposeSession purpose = "session"
	purposeTicket  purpose = "ticket"
	purposeState   purpose = "state"
	purposeStart   purpose = "start"
)

// maxSealed bounds a sealed value's text before it is decoded.
const maxSealed = 3072

// sealer seals small JSON values with AES-256-GCM under keys derived from
// the session key with HKDF-SHA256, one per purpose.
type sealer struct {
	aead map[purpose]cipher.AEAD
}

func newSealer(key []byte) (*sealer, error) {
	s := &sealer{aead: map[purpose]cipher.AEAD{}}
	for _, p := range []purpose{purposeSession, purposeTicket, purposeState, purposeStart} {
		k, err := hkdf.Key(sha256.New, key, nil, "sshgress oauth "+string(p)+" v1", 32)
		if err != nil {
			return nil, fmt.Errorf("derive %s key: %w", p, err)
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("%s cipher: %w", p, err)
		}
		if s.aead[p], err = cipher.NewGCM(block); err != nil {
			return nil, fmt.Errorf("%s cipher: %w", p, err)
		}
	}
	return s, nil
}

// seal encrypts v as JSON, bound to binding (e.g. the host it is for), and
// returns unpadded URL-safe base64 fit for a cookie or a query parameter.
func (s *sealer) seal(p purpose, binding string, v any) (string, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("oauth: seal %s: %w", p, err)
	}
	a := s.aead[p]
	nonce := make([]byte, a.NonceSize(), a.NonceSize()+len(plain)+a.Overhead())
	rand.Read(nonce)
	out := base64.RawURLEncoding.EncodeToString(a.Seal(nonce, nonce, plain, []byte(binding)))
	if len(out) > maxSealed {
		return "", fmt.Errorf("oauth: seal %s: %d bytes, at most %d", p, len(out), maxSealed)
	}
	return out, nil
}

// errUnseal is any failure to open a sealed value: tampered, for another
// purpose or binding, sealed under another key, or malformed.
var errUnseal = errors.New("oauth: sealed value is not valid")

// unseal reverses seal into v.
func (s *sealer) unseal(p purpose, binding, text string, v any) error {
	if len(text) > maxSealed {
		return errUnseal
	}
	raw, err := base64.RawURLEncoding.DecodeString(text)
	a := s.aead[p]
	if err != nil || len(raw) < a.NonceSize()+a.Overhead() {
		return errUnseal
	}
	plain, err := a.Open(nil, raw[:a.NonceSize()], raw[a.NonceSize():], []byte(binding))
	if err != nil {
		return errUnseal
	}
	if err := json.Unmarshal(plain, v); err != nil {
		return errUnseal
	}
	return nil
}
