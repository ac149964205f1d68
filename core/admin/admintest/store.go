// Package admintest is test support: an in-memory admin.Store and
// admin.Tunnels for tests that serve the real management API handler
// (core/admin) without the embedded store. Not for production use.
package admintest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sshgress/sshgress/core/admin"
	"github.com/sshgress/sshgress/core/usererr"
)

// Store is an in-memory admin.Store and admin.Tunnels; core/store is the
// real one.
type Store struct {
	mu       sync.Mutex
	accounts map[string]*admin.Account
	keys     map[string][]admin.Key // by account
	owner    map[string]string
	invites  []admin.Invite
	tokens   map[string]admin.Scope
	tunnels  []admin.Tunnel
	ended    map[string]string
	nextID   int
}

var _ admin.Store = (*Store)(nil)
var _ admin.Tunnels = (*Store)(nil)

// New returns an empty store with no accounts, tunnels or tokens.
func New() *Store {
	return &Store{accounts: map[string]*admin.Account{}, keys: map[string][]admin.Key{}, owner: map[string]string{},
		tokens: map[string]admin.Scope{}, ended: map[string]string{}}
}

func (m *Store) get(name string) (*admin.Account, error) {
	a := m.accounts[name]
	if a == nil {
		return nil, usererr.Wrap(admin.ErrNotFound, fmt.Sprintf("there is no account %q", name))
	}
	return a, nil
}

func (m *Store) Accounts(context.Context) ([]admin.Account, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []admin.Account
	for _, a := range m.accounts {
		out = append(out, *a)
	}
	slices.SortFunc(out, func(a, b admin.Account) int { return compare(a.Name, b.Name) })
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

func (m *Store) Account(_ context.Context, name string) (admin.Account, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, err := m.get(name)
	if err != nil {
		return admin.Account{}, err
	}
	return *a, nil
}

func (m *Store) CreateAccount(_ context.Context, name string) (admin.Account, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.accounts[name] != nil {
		return admin.Account{}, usererr.Wrap(admin.ErrConflict, fmt.Sprintf("account %q exists already", name))
	}
	a := &admin.Account{Name: name, Source: "store", Created: time.Now().UTC(), Domains: []string{}, TCPAddresses: []string{}}
	m.accounts[name] = a
	return *a, nil
}

func (m *Store) writable(name string) (*admin.Account, error) {
	a, err := m.get(name)
	if err == nil && a.Source == "config" {
		return nil, usererr.Wrap(admin.ErrReadOnly, fmt.Sprintf("account %q comes from the config file: change it there", name))
	}
	return a, err
}

func (m *Store) DeleteAccount(_ context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.writable(name); err != nil {
		return err
	}
	delete(m.accounts, name)
	delete(m.keys, name)
	return nil
}

func (m *Store) Keys(_ context.Context, account string) ([]admin.Key, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.get(account); err != nil {
		return nil, err
	}
	return slices.Clone(m.keys[account]), nil
}

func (m *Store) AddKey(_ context.Context, account string, k admin.Key) (admin.Key, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, err := m.writable(account)
	if err != nil {
		return admin.Key{}, err
	}
	for acct, ks := range m.keys {
		for _, o := range ks {
			if o.Fingerprint == k.Fingerprint {
				return admin.Key{}, usererr.Wrap(admin.ErrConflict, fmt.Sprintf("the key %s is already a key of account %q", k.Fingerprint, acct))
			}
		}
	}
	m.nextID++
	k.ID = fmt.Sprintf("k%d", m.nextID)
	m.keys[account] = append(m.keys[account], k)
	a.Keys++
	return k, nil
}

func (m *Store) DeleteKey(_ context.Context, account, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, err := m.writable(account)
	if err != nil {
		return err
	}
	ks := m.keys[account]
	i := slices.IndexFunc(ks, func(k admin.Key) bool { return k.ID == id })
	if i < 0 {
		return usererr.Wrap(admin.ErrNotFound, fmt.Sprintf("account %q has no key %q", account, id))
	}
	m.keys[account] = slices.Delete(ks, i, i+1)
	a.Keys--
	return nil
}

func (m *Store) Reserve(_ context.Context, account string, r admin.Reservation) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, err := m.writable(account)
	if err != nil {
		return err
	}
	if o, ok := m.owner[r.Value]; ok && o != account {
		return usererr.Wrap(admin.ErrConflict, fmt.Sprintf("%s is reserved by another account", r.Value))
	}
	m.owner[r.Value] = account
	if r.Kind == admin.KindTCP {
		a.TCPAddresses = append(a.TCPAddresses, r.Value)
	} else {
		a.Domains = append(a.Domains, r.Value)
	}
	return nil
}

func (m *Store) Unreserve(_ context.Context, account string, r admin.Reservation) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, err := m.writable(account)
	if err != nil {
		return err
	}
	if m.owner[r.Value] != account {
		return usererr.Wrap(admin.ErrNotFound, fmt.Sprintf("account %q does not reserve %s", account, r.Value))
	}
	delete(m.owner, r.Value)
	a.Domains = slices.DeleteFunc(a.Domains, func(s string) bool { return s == r.Value })
	a.TCPAddresses = slices.DeleteFunc(a.TCPAddresses, func(s string) bool { return s == r.Value })
	return nil
}

func (m *Store) CreateInvite(_ context.Context, inv admin.Invite) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.invites = append(m.invites, inv)
	return nil
}

func (m *Store) CreateToken(_ context.Context, account, hash string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tokens[hash] = admin.Scope{Account: account}
	return nil
}

func (m *Store) TokenScope(_ context.Context, hash string) (admin.Scope, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.tokens[hash]
	if !ok {
		return admin.Scope{}, admin.ErrNotFound
	}
	return s, nil
}

func (m *Store) Tunnels(context.Context) []admin.Tunnel {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.tunnels)
}

func (m *Store) EndTunnel(_ context.Context, id, reason string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := slices.IndexFunc(m.tunnels, func(t admin.Tunnel) bool { return t.ID == id })
	if i < 0 {
		return usererr.Wrap(admin.ErrNotFound, fmt.Sprintf("there is no tunnel %q", id))
	}
	m.tunnels = slices.Delete(m.tunnels, i, i+1)
	m.ended[id] = reason
	return nil
}

// AddTunnel puts t into the live tunnel table.
func (m *Store) AddTunnel(t admin.Tunnel) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tunnels = append(m.tunnels, t)
}

// AddConfigAccount adds an account as the config file would: read-only
// through the API, with keys keys.
func (m *Store) AddConfigAccount(name string, keys int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.accounts[name] = &admin.Account{Name: name, Source: "config", Keys: keys, Domains: []string{}, TCPAddresses: []string{}}
}

// Ended is the reason EndTunnel was given for the tunnel id; "" if it was
// not ended.
func (m *Store) Ended(id string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ended[id]
}

// Invites are the invites created so far, in order.
func (m *Store) Invites() []admin.Invite {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.invites)
}
