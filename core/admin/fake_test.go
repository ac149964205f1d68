package admin

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sshgress/sshgress/core/usererr"
)

// memStore is an in-memory Store for the API's tests; core/store is the
// real one.
type memStore struct {
	mu       sync.Mutex
	accounts map[string]*Account
	keys     map[string][]Key // by account
	owner    map[string]string
	invites  []Invite
	tokens   map[string]Scope
	tunnels  []Tunnel
	ended    map[string]string
	nextID   int
}

var _ Store = (*memStore)(nil)
var _ Tunnels = (*memStore)(nil)

func newMemStore() *memStore {
	return &memStore{accounts: map[string]*Account{}, keys: map[string][]Key{}, owner: map[string]string{},
		tokens: map[string]Scope{}, ended: map[string]string{}}
}

func (m *memStore) get(name string) (*Account, error) {
	a := m.accounts[name]
	if a == nil {
		return nil, usererr.Wrap(ErrNotFound, fmt.Sprintf("there is no account %q", name))
	}
	return a, nil
}

func (m *memStore) Accounts(context.Context) ([]Account, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Account
	for _, a := range m.accounts {
		out = append(out, *a)
	}
	slices.SortFunc(out, func(a, b Account) int { return compare(a.Name, b.Name) })
	return out, nil
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (m *memStore) Account(_ context.Context, name string) (Account, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, err := m.get(name)
	if err != nil {
		return Account{}, err
	}
	return *a, nil
}

func (m *memStore) CreateAccount(_ context.Context, name string) (Account, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.accounts[name] != nil {
		return Account{}, usererr.Wrap(ErrConflict, fmt.Sprintf("account %q exists already", name))
	}
	a := &Account{Name: name, Source: "store", Created: time.Now().UTC(), Domains: []string{}, TCPAddresses: []string{}}
	m.accounts[name] = a
	return *a, nil
}

func (m *memStore) writable(name string) (*Account, error) {
	a, err := m.get(name)
	if err == nil && a.Source == "config" {
		return nil, usererr.Wrap(ErrReadOnly, fmt.Sprintf("account %q comes from the config file: change it there", name))
	}
	return a, err
}

func (m *memStore) DeleteAccount(_ context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.writable(name); err != nil {
		return err
	}
	delete(m.accounts, name)
	delete(m.keys, name)
	return nil
}

func (m *memStore) Keys(_ context.Context, account string) ([]Key, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.get(account); err != nil {
		return nil, err
	}
	return slices.Clone(m.keys[account]), nil
}

func (m *memStore) AddKey(_ context.Context, account string, k Key) (Key, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, err := m.writable(account)
	if err != nil {
		return Key{}, err
	}
	for acct, ks := range m.keys {
		for _, o := range ks {
			if o.Fingerprint == k.Fingerprint {
				return Key{}, usererr.Wrap(ErrConflict, fmt.Sprintf("the key %s is already a key of account %q", k.Fingerprint, acct))
			}
		}
	}
	m.nextID++
	k.ID = fmt.Sprintf("k%d", m.nextID)
	m.keys[account] = append(m.keys[account], k)
	a.Keys++
	return k, nil
}

func (m *memStore) DeleteKey(_ context.Context, account, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, err := m.writable(account)
	if err != nil {
		return err
	}
	ks := m.keys[account]
	i := slices.IndexFunc(ks, func(k Key) bool { return k.ID == id })
	if i < 0 {
		return usererr.Wrap(ErrNotFound, fmt.Sprintf("account %q has no key %q", account, id))
	}
	m.keys[account] = slices.Delete(ks, i, i+1)
	a.Keys--
	return nil
}

func (m *memStore) Reserve(_ context.Context, account string, r Reservation) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, err := m.writable(account)
	if err != nil {
		return err
	}
	if o, ok := m.owner[r.Value]; ok && o != account {
		return usererr.Wrap(ErrConflict, fmt.Sprintf("%s is reserved by another account", r.Value))
	}
	m.owner[r.Value] = account
	if r.Kind == KindTCP {
		a.TCPAddresses = append(a.TCPAddresses, r.Value)
	} else {
		a.Domains = append(a.Domains, r.Value)
	}
	return nil
}

func (m *memStore) Unreserve(_ context.Context, account string, r Reservation) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, err := m.writable(account)
	if err != nil {
		return err
	}
	if m.owner[r.Value] != account {
		return usererr.Wrap(ErrNotFound, fmt.Sprintf("account %q does not reserve %s", account, r.Value))
	}
	delete(m.owner, r.Value)
	a.Domains = slices.DeleteFunc(a.Domains, func(s string) bool { return s == r.Value })
	a.TCPAddresses = slices.DeleteFunc(a.TCPAddresses, func(s string) bool { return s == r.Value })
	return nil
}

func (m *memStore) CreateInvite(_ context.Context, inv Invite) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.invites = append(m.invites, inv)
	return nil
}

func (m *memStore) CreateToken(_ context.Context, account, hash string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tokens[hash] = Scope{Account: account}
	return nil
}

func (m *memStore) TokenScope(_ context.Context, hash string) (Scope, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.tokens[hash]
	if !ok {
		return Scope{}, ErrNotFound
	}
	return s, nil
}

func (m *memStore) Tunnels(context.Context) []Tunnel {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.tunnels)
}

func (m *memStore) EndTunnel(_ context.Context, id, reason string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := slices.IndexFunc(m.tunnels, func(t Tunnel) bool { return t.ID == id })
	if i < 0 {
		return usererr.Wrap(ErrNotFound, fmt.Sprintf("there is no tunnel %q", id))
	}
	m.tunnels = slices.Delete(m.tunnels, i, i+1)
	m.ended[id] = reason
	return nil
}
