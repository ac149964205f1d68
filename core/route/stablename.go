package route

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// NameKeyFile is the file in the edge's state directory that holds the
// secret stable names are derived from (NameKeySize random bytes, hex).
const NameKeyFile = "names.key"

// NameKeySize is the length of the stable-name secret, in bytes.
const NameKeySize = 32

// StableLabel returns the label an `ssh -N` forward without a remote name
// gets: HMAC-SHA256 under the edge's secret key of the account name, the
// key fingerprint and the slot, laid out like RandomLabel (a letter and
// nine base32 characters, about 50 bits). The same account, key and slot
// get the same label on this edge every time; without the key nobody can
// compute it, and a label reveals nothing about the key or account, nor
// links two edges. It returns "" when the Namer has no key.
func (n *Namer) StableLabel(c Claimant) string {
	if len(n.StableKey) == 0 || c.Account == nil || c.Stable < 1 {
		return ""
	}
	m := hmac.New(sha256.New, n.StableKey)
	// Length-prefixed fields: no two inputs run together alike.
	for _, field := range []string{"sshgress stable name v1", c.Account.Name, c.Key, strconv.Itoa(c.Stable)} {
		m.Write([]byte(strconv.Itoa(len(field)) + ":" + field))
	}
	return labelFrom(m.Sum(nil))
}

// LoadNameKey reads the stable-name secret from dir/NameKeyFile, creating
// it (owner-only) with fresh random bytes on first start. A file that
// exists but does not hold NameKeySize hex-encoded bytes is an error, not
// replaced: that would change every stable name.
func LoadNameKey(dir string) ([]byte, error) {
	path := filepath.Join(dir, NameKeyFile)
	for range 2 {
		raw, err := os.ReadFile(path)
		if err == nil {
			key, err := hex.DecodeString(strings.TrimSpace(string(raw)))
			if err != nil || len(key) != NameKeySize {
				return nil, fmt.Errorf("route: stable-name key %s: want %d bytes in hex on one line; delete the file to make a new one (every stable name changes)", path, NameKeySize)
			}
			return key, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("route: stable-name key: %w", err)
		}
		key := make([]byte, NameKeySize)
		rand.Read(key)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue // another process made it first: read theirs
		}
		if err != nil {
			return nil, fmt.Errorf("route: create stable-name key: %w", err)
		}
		_, werr := f.WriteString(hex.EncodeToString(key) + "\n")
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			os.Remove(path)
			return nil, fmt.Errorf("route: write stable-name key: %w", werr)
		}
		return key, nil
	}
	return nil, fmt.Errorf("route: stable-name key %s: created and removed while reading it", path)
}
