package admin

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/sshgress/sshgress/core/cryptopolicy"
)

// LoadOrCreateToken returns the operator token in path, creating the file
// with a fresh random token (256 bits, mode 0600) when it does not exist.
// An existing file that is readable by others or empty is refused. The
// token is never logged.
func LoadOrCreateToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return "", fmt.Errorf("admin: create the directory of admin.token_file: %w", err)
		}
		tok := randomHex(32)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return "", fmt.Errorf("admin: create admin.token_file %s: %w", path, err)
		}
		if _, err := f.WriteString(tok + "\n"); err != nil {
			f.Close()
			return "", fmt.Errorf("admin: write admin.token_file %s: %w", path, err)
		}
		if err := f.Close(); err != nil {
			return "", fmt.Errorf("admin: write admin.token_file %s: %w", path, err)
		}
		return tok, nil
	}
	if err != nil {
		return "", fmt.Errorf("admin: read admin.token_file %s: %w", path, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("admin: admin.token_file %s: %w", path, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("admin: admin.token_file %s is readable by other users (mode %04o): chmod 600 it", path, st.Mode().Perm())
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < 16 {
		return "", fmt.Errorf("admin: admin.token_file %s holds no token of 16 characters or more: delete it to have a new one generated", path)
	}
	return tok, nil
}

// IsLoopback reports whether addr ("host:port") listens on loopback only.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Listen opens the admin listener on addr. A non-loopback address needs a
// certificate (cert, from admin.cert_file and admin.key_file): the token
// must not cross a network in clear text. cert is asked at every
// handshake, so a certificate it swaps serves the next connection; nil
// serves plain HTTP.
func Listen(addr string, cert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) (net.Listener, error) {
	if !IsLoopback(addr) && cert == nil {
		return nil, fmt.Errorf("admin: admin.addr %s is not a loopback address: set admin.cert_file and admin.key_file so tokens travel over TLS, or listen on 127.0.0.1", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin: listen on admin.addr %s: %w", addr, err)
	}
	if cert == nil {
		return ln, nil
	}
	return tls.NewListener(ln, &tls.Config{
		GetCertificate: cert,
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   cryptopolicy.TLS12CipherSuites,
	}), nil
}
