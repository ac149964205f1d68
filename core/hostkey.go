package core

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"
)

// loadOrCreateHostKey reads the ed25519 host key, generating it on first
// start with owner-only permissions.
func loadOrCreateHostKey(path string, create bool, log *slog.Logger) (ssh.Signer, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		signer, err := ssh.ParsePrivateKey(data)
		if err != nil {
			return nil, fmt.Errorf("core: host key %s: %w", path, err)
		}
		return signer, nil
	}
	if !errors.Is(err, os.ErrNotExist) || !create {
		return nil, fmt.Errorf("config: ssh.host_key_file: %w", err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("core: generate host key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "sshgress host key")
	if err != nil {
		return nil, fmt.Errorf("core: encode host key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("core: host key dir: %w", err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, fmt.Errorf("core: write host key: %w", err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, fmt.Errorf("core: host key: %w", err)
	}
	log.Info("generated a new SSH host key", "path", path, "fingerprint", ssh.FingerprintSHA256(signer.PublicKey()))
	return signer, nil
}
