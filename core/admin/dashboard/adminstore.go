package dashboard

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/sshgress/sshgress/core/admin"
	"github.com/sshgress/sshgress/core/sshkey"
	"github.com/sshgress/sshgress/core/usererr"
	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"
)

// backendTimeout bounds each store or tunnel-table call of a page.
const backendTimeout = 10 * time.Second

// AdminBackend is the Backend over the management API's seam (admin.Store
// and admin.Tunnels): the dashboard and the API read and change the same
// store through the same interface.
func AdminBackend(store admin.Store, tunnels admin.Tunnels) Backend {
	return adminBackend{store: store, tunnels: tunnels}
}

type adminBackend struct {
	store   admin.Store
	tunnels admin.Tunnels
}

var _ Backend = adminBackend{}

func ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), backendTimeout)
}

func fromAdmin(a admin.Account) Account {
	return Account{Name: a.Name, FromConfig: a.Source == "config", Domains: a.Domains, TCPAddresses: a.TCPAddresses}
}

func (b adminBackend) Accounts() ([]Account, error) {
	c, cancel := ctx()
	defer cancel()
	as, err := b.store.Accounts(c)
	out := make([]Account, 0, len(as))
	for _, a := range as {
		out = append(out, fromAdmin(a))
	}
	return out, err
}

func (b adminBackend) Account(name string) (Account, error) {
	c, cancel := ctx()
	defer cancel()
	a, err := b.store.Account(c, name)
	return fromAdmin(a), err
}

func (b adminBackend) Keys(name string) ([]Key, error) {
	c, cancel := ctx()
	defer cancel()
	a, err := b.store.Account(c, name)
	if err != nil {
		return nil, err
	}
	ks, err := b.store.Keys(c, name)
	out := make([]Key, 0, len(ks))
	for _, k := range ks {
		out = append(out, Key{ID: k.ID, Type: k.Type, Fingerprint: k.Fingerprint, Label: k.Label,
			Added: k.Added, LastUsed: k.LastUsed, FromConfig: a.Source == "config"})
	}
	return out, err
}

// AddKey checks the line with the API's key rule (sshkey.ParseLine) and
// stores it; the store's conflicts become sentences.
func (b adminBackend) AddKey(name, line, label string) (Key, error) {
	key, comment, err := sshkey.ParseLine(line)
	if err != nil {
		return Key{}, usererr.Wrap(err, "That key cannot be added: "+err.Error()+".")
	}
	if label == "" {
		label = comment
	}
	c, cancel := ctx()
	defer cancel()
	k, err := b.store.AddKey(c, name, admin.Key{
		Fingerprint: ssh.FingerprintSHA256(key),
		Type:        key.Type(),
		PublicKey:   strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key))),
		Label:       label,
		Added:       time.Now().UTC(),
	})
	switch {
	case err == nil:
		return Key{ID: k.ID, Type: k.Type, Fingerprint: k.Fingerprint, Label: k.Label, Added: k.Added}, nil
	case usererr.Is(err):
		return Key{}, err
	case errors.Is(err, admin.ErrConflict):
		return Key{}, usererr.Wrap(err, "This key is already registered on this edge, on your account or another one: a key belongs to one account. Nothing was changed.")
	case errors.Is(err, admin.ErrReadOnly):
		return Key{}, usererr.Wrap(err, "Your account comes from the edge's config file, so its keys can be changed only there: ask the operator.")
	}
	return Key{}, err
}

func (b adminBackend) DeleteKey(name, id string) error {
	c, cancel := ctx()
	defer cancel()
	err := b.store.DeleteKey(c, name, id)
	if errors.Is(err, admin.ErrReadOnly) && !usererr.Is(err) {
		return usererr.Wrap(err, "This key comes from the edge's config file and can be removed only there: ask the operator.")
	}
	return err
}

func (b adminBackend) Tunnels(name string) ([]Tunnel, error) {
	c, cancel := ctx()
	defer cancel()
	var out []Tunnel
	for _, t := range b.tunnels.Tunnels(c) {
		if name == "" || t.Account == name {
			out = append(out, Tunnel{ID: t.ID, Account: t.Account, Type: t.Type, URL: t.URL, ClientAddr: t.ClientAddr, Started: t.Started,
				Requests: t.Requests, BytesIn: t.BytesIn, BytesOut: t.BytesOut})
		}
	}
	return out, nil
}

// CloseTunnel ends a tunnel of name's (any, for ""); its owner's session
// says who ended it.
func (b adminBackend) CloseTunnel(name, id string) error {
	c, cancel := ctx()
	defer cancel()
	reason := "the operator closed this tunnel on the dashboard"
	if name != "" {
		reason = "you closed this tunnel on the dashboard"
		owned := false
		for _, t := range b.tunnels.Tunnels(c) {
			owned = owned || t.ID == id && t.Account == name
		}
		if !owned {
			return ErrNotFound
		}
	}
	return b.tunnels.EndTunnel(c, id, reason)
}

// CreateToken mints an account token as the API does (admin.NewToken).
func (b adminBackend) CreateToken(name string) (string, error) {
	c, cancel := ctx()
	defer cancel()
	tok, err := admin.NewToken(c, b.store, name)
	if errors.Is(err, admin.ErrReadOnly) && !usererr.Is(err) {
		return "", usererr.Wrap(err, "Your account comes from the edge's config file: ask the operator for a token.")
	}
	return tok, err
}

// CreateInvite stores an invite by its digest (admin.Digest), as the API
// does, and returns the code.
func (b adminBackend) CreateInvite(name string, ttl time.Duration) (string, error) {
	c, cancel := ctx()
	defer cancel()
	if _, err := b.store.Account(c, name); err != nil {
		if errors.Is(err, admin.ErrNotFound) {
			return "", usererr.Wrap(err, "There is no account "+name+". Create it first (sshgress admin accounts add "+name+").")
		}
		return "", err
	}
	code, _, err := admin.NewInvite(c, b.store, name, ttl)
	return code, err
}
