// Package account holds the accounts that may open tunnels, found by their
// SSH public keys, and the names they reserve: domains under the base domain
// or custom domains, and TCP addresses.
//
// A Directory is built from config by NewDirectory. Follow makes it a live
// view of the config accounts (read-only) merged with a store's (live.go):
// every lookup reads one immutable snapshot, swapped atomically when the
// store changes, so it is safe for concurrent use without locks.
package account

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"

	"github.com/sshgress/sshgress/core/route/dnsname"
	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"
)

// MaxKeysFileSize is the largest keys_file NewDirectory reads, in bytes.
const MaxKeysFileSize = 1 << 20

// Account is one account that may open tunnels. Accounts returned by a
// Directory are shared and must not be modified.
type Account struct {
	// Name is the unique account name from config; never "".
	Name string
	// Anonymous marks the no-config local account, which accepts any key
	// and exists only while the SSH server listens on loopback alone.
	Anonymous bool
	// Domains are the normalised FQDNs this account reserves; a bare label
	// in config is already expanded to "<label>.<base domain>".
	Domains []string
	// TCPAddresses are the reserved TCP addresses as "host:port", in the
	// canonical form of dnsname.NormalizeHostPort.
	TCPAddresses []string
	// FromStore marks an account of the store rather than the config file.
	FromStore bool
}

// Spec is one account as the config states it, not yet normalised.
type Spec struct {
	// Name is the account's unique name; required.
	Name string
	// Keys are authorized_keys lines; an entry may hold several lines.
	// Blank lines and lines starting with '#' are skipped.
	Keys []string
	// KeysFile is the path of an authorized_keys file to read as well; ""
	// for none. At most MaxKeysFileSize bytes.
	KeysFile string
	// Domains are the names the account reserves: a bare label ("ann")
	// means "ann.<base domain>", anything else is a full domain name.
	Domains []string
	// TCPAddresses are the "host:port" TCP addresses the account reserves.
	TCPAddresses []string
}

// Directory finds accounts by key and reserved name. Its methods are safe
// for concurrent use and on a nil *Directory (which holds no accounts).
type Directory struct {
	base string
	conf atomic.Pointer[view] // the config file's accounts; replaced by SetConfig only
	cur  atomic.Pointer[view]
	live liveState // live.go
}

// view is one immutable snapshot of the accounts.
type view struct {
	accounts []*Account
	byKey    map[string]*Account // key: ssh.PublicKey.Marshal()
	byName   map[string]*Account // reserved domain
	byTCP    map[string]*Account // reserved host:port
}

// NewDirectory builds the directory from specs. baseDomain must already be
// normalised (e.g. "localhost", "tunnel.example.com"). Every name goes
// through dnsname.Normalize.
//
// Authorized_keys options (from=, restrict, cert-authority, ...) are
// rejected rather than ignored, since ignoring them would grant more than
// the operator wrote.
//
// Errors name the account and the offending value: an empty or duplicate
// account name, an unparsable key line, an unreadable keys_file, an account
// with no keys, a key in two accounts, a domain or TCP address reserved by
// two accounts, a domain equal to the base domain, a TCP address that is not
// host:port with a port from 1 to 65535.
func NewDirectory(baseDomain string, specs []Spec) (*Directory, error) {
	if baseDomain == "" {
		return nil, errors.New("account: the base domain is empty")
	}
	d := &view{
		byKey:  make(map[string]*Account),
		byName: make(map[string]*Account),
		byTCP:  make(map[string]*Account),
	}
	names := make(map[string]bool, len(specs))
	for i, spec := range specs {
		if spec.Name == "" {
			return nil, fmt.Errorf("account: accounts[%d]: the name is empty", i)
		}
		if names[spec.Name] {
			return nil, fmt.Errorf("account %q: the name is used by two accounts", spec.Name)
		}
		names[spec.Name] = true
		acct, err := d.add(baseDomain, spec)
		if err != nil {
			return nil, fmt.Errorf("account %q: %w", spec.Name, err)
		}
		d.accounts = append(d.accounts, acct)
	}
	dir := &Directory{base: baseDomain}
	dir.conf.Store(d)
	dir.cur.Store(d)
	return dir, nil
}

// view is the current snapshot; nil for a nil Directory.
func (d *Directory) view() *view {
	if d == nil {
		return nil
	}
	return d.cur.Load()
}

// add normalises spec and indexes its keys and names.
func (d *view) add(base string, spec Spec) (*Account, error) {
	acct := &Account{Name: spec.Name}
	nkeys := 0
	addKey := func(where string, key ssh.PublicKey) error {
		k := string(key.Marshal())
		switch other := d.byKey[k]; {
		case other == acct:
			return nil // the same key listed twice in one account
		case other != nil:
			return fmt.Errorf("%s: the key %s is also a key of account %q", where, ssh.FingerprintSHA256(key), other.Name)
		}
		d.byKey[k] = acct
		nkeys++
		return nil
	}
	for i, entry := range spec.Keys {
		where := fmt.Sprintf("keys[%d]", i)
		if err := parseKeys(where, []byte(entry), addKey); err != nil {
			return nil, err
		}
	}
	if spec.KeysFile != "" {
		data, err := readKeysFile(spec.KeysFile)
		if err != nil {
			return nil, fmt.Errorf("keys_file %q: %w", spec.KeysFile, err)
		}
		if err := parseKeys(fmt.Sprintf("keys_file %q", spec.KeysFile), data, addKey); err != nil {
			return nil, err
		}
	}
	if nkeys == 0 {
		return nil, errors.New("no keys: give keys or keys_file")
	}

	for i, raw := range spec.Domains {
		name := raw
		if !strings.Contains(raw, ".") {
			name = raw + "." + base
		}
		n, err := dnsname.Normalize(name)
		if err != nil {
			return nil, fmt.Errorf("domains[%d] %s: %w", i, dnsname.Quote(raw), err)
		}
		if n == base {
			return nil, fmt.Errorf("domains[%d] %s: the base domain itself cannot be reserved", i, dnsname.Quote(raw))
		}
		switch other := d.byName[n]; {
		case other == acct:
			continue
		case other != nil:
			return nil, fmt.Errorf("domains[%d] %s: %s is also reserved by account %q", i, dnsname.Quote(raw), n, other.Name)
		}
		d.byName[n] = acct
		acct.Domains = append(acct.Domains, n)
	}

	for i, raw := range spec.TCPAddresses {
		n, err := dnsname.NormalizeHostPort(raw)
		if err != nil {
			return nil, fmt.Errorf("tcp_addresses[%d] %s: %w", i, dnsname.Quote(raw), err)
		}
		switch other := d.byTCP[n]; {
		case other == acct:
			continue
		case other != nil:
			return nil, fmt.Errorf("tcp_addresses[%d] %s: %s is also reserved by account %q", i, dnsname.Quote(raw), n, other.Name)
		}
		d.byTCP[n] = acct
		acct.TCPAddresses = append(acct.TCPAddresses, n)
	}
	return acct, nil
}

// readKeysFile reads path, refusing files over MaxKeysFileSize.
func readKeysFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxKeysFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxKeysFileSize {
		return nil, fmt.Errorf("larger than %d bytes", MaxKeysFileSize)
	}
	return data, nil
}

// parseKeys parses authorized_keys lines, skipping blank and '#' lines,
// and calls add for each key. where names the source for errors.
func parseKeys(where string, data []byte, add func(where string, key ssh.PublicKey) error) error {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), MaxKeysFileSize+1)
	for lineNo := 1; sc.Scan(); lineNo++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		at := fmt.Sprintf("%s line %d", where, lineNo)
		key, _, options, _, err := ssh.ParseAuthorizedKey(line)
		if err != nil {
			return fmt.Errorf("%s: not an authorized_keys line (want e.g. \"ssh-ed25519 AAAA... comment\"): %w", at, err)
		}
		if len(options) > 0 {
			return fmt.Errorf("%s: authorized_keys options (%s) are not supported; remove them", at, strings.Join(options, ","))
		}
		if err := add(at, key); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	return nil
}

// Len returns the number of accounts.
func (dir *Directory) Len() int {
	d := dir.view()
	if d == nil {
		return 0
	}
	return len(d.accounts)
}

// Accounts returns the accounts in config order. The slice is a copy; the
// accounts are shared and must not be modified.
func (dir *Directory) Accounts() []*Account {
	d := dir.view()
	if d == nil {
		return nil
	}
	return append([]*Account(nil), d.accounts...)
}

// ByKey returns the account owning key, compared by its wire encoding
// (key.Marshal()), or nil. A certificate matches only if the certificate
// itself is listed, never through its signature key.
func (dir *Directory) ByKey(key ssh.PublicKey) *Account {
	d := dir.view()
	if d == nil || key == nil {
		return nil
	}
	return d.byKey[string(key.Marshal())]
}

// Owner returns the account that reserved the normalised name, or nil.
func (dir *Directory) Owner(name string) *Account {
	d := dir.view()
	if d == nil {
		return nil
	}
	return d.byName[name]
}

// TCPOwner returns the account that reserved the TCP address "host:port",
// or nil. hostport is normalised first, so "Tcp.Example.com.:080" finds
// "tcp.example.com:80"; an invalid address has no owner.
func (dir *Directory) TCPOwner(hostport string) *Account {
	d := dir.view()
	if d == nil || len(d.byTCP) == 0 {
		return nil
	}
	if a := d.byTCP[hostport]; a != nil {
		return a
	}
	n, err := dnsname.NormalizeHostPort(hostport)
	if err != nil {
		return nil
	}
	return d.byTCP[n]
}

// AnonymousName is the Name of the anonymous account.
const AnonymousName = "local"

// Anonymous returns the anonymous account, used when the directory is empty
// and the SSH server listens on loopback only: anyone who can reach it may
// open tunnels with any key. Each call returns a new *Account; compare
// accounts by Name, not by pointer. It reserves nothing.
func Anonymous() *Account {
	return &Account{Name: AnonymousName, Anonymous: true}
}

// ByName returns the account with the given name, or nil. The SSH server
// uses it to find the account its authentication step chose.
func (dir *Directory) ByName(name string) *Account {
	d := dir.view()
	if d == nil {
		return nil
	}
	for _, a := range d.accounts {
		if a.Name == name {
			return a
		}
	}
	return nil
}
