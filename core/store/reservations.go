package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/sshgress/sshgress/core/route/dnsname"
	"github.com/sshgress/sshgress/core/usererr"
)

// NormalizeDomain turns a reserved domain as a user writes it (a bare
// label or a full name) into its normalised FQDN.
func (r *Records) NormalizeDomain(raw string) (string, error) {
	name := raw
	if !strings.Contains(raw, ".") {
		name = raw + "." + r.Base
	}
	n, err := dnsname.Normalize(name)
	if err != nil {
		return "", usererr.Errorf("%s is not a valid domain name: %v", dnsname.Quote(raw), err)
	}
	if n == r.Base {
		return "", usererr.Errorf("the base domain %s itself cannot be reserved", n)
	}
	return n, nil
}

// ReserveDomain reserves a domain for a store account.
func (r *Records) ReserveDomain(ctx context.Context, account, raw string) (Reservation, error) {
	n, err := r.NormalizeDomain(raw)
	if err != nil {
		return Reservation{}, err
	}
	var cfgOwner string
	if r.Guard != nil {
		cfgOwner = r.Guard.ConfigDomainOwner(n)
	}
	return r.reserve(ctx, DomainsPrefix, account, n, cfgOwner)
}

// ReserveTCP reserves a TCP address "host:port" for a store account.
func (r *Records) ReserveTCP(ctx context.Context, account, raw string) (Reservation, error) {
	n, err := dnsname.NormalizeHostPort(raw)
	if err != nil {
		return Reservation{}, usererr.Errorf("%s is not a TCP address host:port with a port from 1 to 65535", dnsname.Quote(raw))
	}
	var cfgOwner string
	if r.Guard != nil {
		cfgOwner = r.Guard.ConfigTCPOwner(n)
	}
	return r.reserve(ctx, TCPPrefix, account, n, cfgOwner)
}

func (r *Records) reserve(ctx context.Context, prefix, account, name, cfgOwner string) (Reservation, error) {
	if cfgOwner != "" {
		return Reservation{}, usererr.Wrap(ErrTaken, fmt.Sprintf("%s is already reserved by another account", name))
	}
	for range txnTries {
		_, akv, err := r.account(ctx, account)
		if err != nil {
			return Reservation{}, err
		}
		t := Txn{If: []Compare{Unchanged(akv.Key, akv.ModRevision)}}
		var prev Reservation
		pkv, err := r.get(ctx, prefix+name, &prev)
		if err != nil {
			return Reservation{}, err
		}
		if pkv != nil {
			ok, err := r.live(ctx, owned{prev.Account, prev.AccountRev})
			if err != nil {
				return Reservation{}, err
			}
			if ok && prev.Account == account {
				return prev, nil
			}
			if ok {
				return Reservation{}, usererr.Wrap(ErrTaken, fmt.Sprintf("%s is already reserved by another account", name))
			}
			t.If = append(t.If, Unchanged(pkv.Key, pkv.ModRevision))
		} else {
			t.If = append(t.If, Absent(prefix+name))
		}
		res := Reservation{Name: name, Account: account, Created: r.now(), AccountRev: akv.CreateRevision}
		data, _ := json.Marshal(res)
		t.Then = []Op{Put(prefix+name, data)}
		if _, err = r.KV.Txn(ctx, t); !errors.Is(err, ErrConflict) {
			return res, err
		}
	}
	return Reservation{}, fmt.Errorf("store: reserve %s: too many concurrent changes; try again", name)
}

// ReleaseDomain and ReleaseTCP remove an account's reservation.
func (r *Records) ReleaseDomain(ctx context.Context, account, raw string) error {
	n, err := r.NormalizeDomain(raw)
	if err != nil {
		return err
	}
	return r.release(ctx, DomainsPrefix, account, n)
}

// ReleaseTCP removes an account's reserved TCP address.
func (r *Records) ReleaseTCP(ctx context.Context, account, raw string) error {
	n, err := dnsname.NormalizeHostPort(raw)
	if err != nil {
		return usererr.Errorf("%s is not a TCP address host:port", dnsname.Quote(raw))
	}
	return r.release(ctx, TCPPrefix, account, n)
}

func (r *Records) release(ctx context.Context, prefix, account, name string) error {
	if r.fromConfig(account) {
		return configRefusal(account)
	}
	var res Reservation
	kv, err := r.get(ctx, prefix+name, &res)
	if err != nil {
		return err
	}
	if kv == nil || res.Account != account {
		return usererr.Wrap(ErrNotFound, fmt.Sprintf("account %q has not reserved %s", account, name))
	}
	_, err = r.KV.Txn(ctx, Txn{If: []Compare{Unchanged(kv.Key, kv.ModRevision)}, Then: []Op{Delete(kv.Key)}})
	return err
}

// Reservations lists the live reservations under prefix (DomainsPrefix or
// TCPPrefix) of account ("" for all).
func (r *Records) Reservations(ctx context.Context, prefix, account string) ([]Reservation, error) {
	all, err := list[Reservation](ctx, r.KV, prefix)
	if err != nil {
		return nil, err
	}
	var out []Reservation
	for _, x := range all {
		if account != "" && x.Account != account {
			continue
		}
		if ok, err := r.live(ctx, owned{x.Account, x.AccountRev}); err != nil {
			return nil, err
		} else if ok {
			out = append(out, x)
		}
	}
	return out, nil
}
