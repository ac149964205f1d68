package core

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/sshgress/sshgress/core/account"
	"github.com/sshgress/sshgress/core/admin"
	"github.com/sshgress/sshgress/core/store"
)

// adminStore is the management API's admin.Store over the store's
// records and the live account directory: config accounts are listed
// read-only (the records' Guard refuses writes to them), store accounts
// are read and written through store.Records. Secrets (invite codes,
// tokens) reach the store only as their digest.
type adminStore struct {
	records *store.Records
	dir     *account.Directory
}

var _ admin.Store = (*adminStore)(nil)

// configAccount is the config account named name, or nil.
func (s *adminStore) configAccount(name string) *account.Account {
	for _, a := range s.dir.Accounts() {
		if !a.FromStore && !a.Anonymous && a.Name == name {
			return a
		}
	}
	return nil
}

func fromConfig(a *account.Account) admin.Account {
	return admin.Account{Name: a.Name, Source: string(store.OriginConfig),
		Domains: nonNil(a.Domains), TCPAddresses: nonNil(a.TCPAddresses)}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (s *adminStore) fromStore(ctx context.Context, a store.Account) (admin.Account, error) {
	out := admin.Account{Name: a.Name, Source: string(store.OriginStore), Created: a.Created, Domains: []string{}, TCPAddresses: []string{}}
	keys, err := s.records.Keys(ctx, a.Name)
	if err != nil {
		return admin.Account{}, err
	}
	out.Keys = len(keys)
	for _, p := range []struct {
		prefix string
		dst    *[]string
	}{{store.DomainsPrefix, &out.Domains}, {store.TCPPrefix, &out.TCPAddresses}} {
		rs, err := s.records.Reservations(ctx, p.prefix, a.Name)
		if err != nil {
			return admin.Account{}, err
		}
		for _, r := range rs {
			*p.dst = append(*p.dst, r.Name)
		}
	}
	return out, nil
}

func (s *adminStore) Accounts(ctx context.Context) ([]admin.Account, error) {
	var out []admin.Account
	for _, a := range s.dir.Accounts() {
		if !a.FromStore && !a.Anonymous {
			out = append(out, fromConfig(a))
		}
	}
	stored, err := s.records.Accounts(ctx)
	if err != nil {
		return nil, err
	}
	for _, a := range stored {
		x, err := s.fromStore(ctx, a)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}

func (s *adminStore) Account(ctx context.Context, name string) (admin.Account, error) {
	if a := s.configAccount(name); a != nil {
		return fromConfig(a), nil
	}
	a, ok, err := s.records.Account(ctx, name)
	if err != nil {
		return admin.Account{}, err
	}
	if !ok {
		return admin.Account{}, fmt.Errorf("there is no account %q: %w", name, admin.ErrNotFound)
	}
	return s.fromStore(ctx, a)
}

// mapErr marks a records error with the admin error that picks its status.
func (s *adminStore) mapErr(account string, err error) error {
	switch {
	case err == nil:
		return nil
	case s.configAccount(account) != nil:
		return errors.Join(err, admin.ErrReadOnly)
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrTaken):
		return errors.Join(err, admin.ErrConflict)
	case errors.Is(err, store.ErrNotFound):
		return errors.Join(err, admin.ErrNotFound)
	}
	return err
}

func (s *adminStore) CreateAccount(ctx context.Context, name string) (admin.Account, error) {
	a, err := s.records.CreateAccount(ctx, name)
	if err != nil {
		return admin.Account{}, s.mapErr(name, err)
	}
	return s.fromStore(ctx, a)
}

func (s *adminStore) DeleteAccount(ctx context.Context, name string) error {
	if _, err := s.Account(ctx, name); err != nil && s.configAccount(name) == nil {
		return err
	}
	return s.mapErr(name, s.records.DeleteAccount(ctx, name))
}

func (s *adminStore) Keys(ctx context.Context, name string) ([]admin.Key, error) {
	if _, err := s.Account(ctx, name); err != nil {
		return nil, err
	}
	keys, err := s.records.Keys(ctx, name)
	if err != nil {
		return nil, err
	}
	out := make([]admin.Key, 0, len(keys))
	for _, k := range keys {
		out = append(out, toAdminKey(k))
	}
	return out, nil
}

func toAdminKey(k store.Key) admin.Key {
	typ, _, _ := strings.Cut(k.AuthorizedKey, " ")
	return admin.Key{ID: k.ID, Fingerprint: k.Fingerprint, Type: typ, PublicKey: k.AuthorizedKey,
		Label: k.Label, Added: k.Added, LastUsed: k.LastUsed}
}

func (s *adminStore) AddKey(ctx context.Context, name string, k admin.Key) (admin.Key, error) {
	got, err := s.records.AddKey(ctx, name, k.PublicKey, k.Label)
	if err != nil {
		return admin.Key{}, s.mapErr(name, err)
	}
	return toAdminKey(got), nil
}

func (s *adminStore) DeleteKey(ctx context.Context, name, id string) error {
	return s.mapErr(name, s.records.RemoveKey(ctx, name, id))
}

func (s *adminStore) Reserve(ctx context.Context, name string, r admin.Reservation) error {
	var err error
	if r.Kind == admin.KindTCP {
		_, err = s.records.ReserveTCP(ctx, name, r.Value)
	} else {
		_, err = s.records.ReserveDomain(ctx, name, r.Value)
	}
	return s.mapErr(name, err)
}

func (s *adminStore) Unreserve(ctx context.Context, name string, r admin.Reservation) error {
	var err error
	if r.Kind == admin.KindTCP {
		err = s.records.ReleaseTCP(ctx, name, r.Value)
	} else {
		err = s.records.ReleaseDomain(ctx, name, r.Value)
	}
	return s.mapErr(name, err)
}

func (s *adminStore) CreateInvite(ctx context.Context, inv admin.Invite) error {
	_, err := s.records.PutInvite(ctx, inv.Account, inv.CodeHash, inv.Expires)
	return s.mapErr(inv.Account, err)
}

func (s *adminStore) CreateToken(ctx context.Context, name, tokenHash string) error {
	_, err := s.records.PutToken(ctx, name, tokenHash, "api")
	return s.mapErr(name, err)
}

func (s *adminStore) TokenScope(ctx context.Context, tokenHash string) (admin.Scope, error) {
	tok, ok, err := s.records.TokenByHash(ctx, tokenHash)
	if err != nil {
		return admin.Scope{}, err
	}
	if !ok {
		return admin.Scope{}, admin.ErrNotFound
	}
	return admin.Scope{Operator: tok.Account == "", Account: tok.Account}, nil
}
