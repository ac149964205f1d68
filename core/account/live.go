package account

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sshgress/sshgress/core/store"
	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"
)

// Change is what a subscriber learns when access is taken away: a key
// removed from its account (Key is its "SHA256:…" fingerprint), or a whole
// account removed (Key ""). Reason is a sentence for the user's session.
type Change struct {
	Account string
	Key     string
	Reason  string
}

// liveState is the part of a Directory that follows a store.
type liveState struct {
	// reloadMu orders snapshot builds, so an older one never replaces a
	// newer one.
	reloadMu sync.Mutex
	mu       sync.Mutex
	next     int
	subs     map[int]func(Change)
}

// Subscribe calls f with every Change from now on, on the goroutine that
// applied it, after the snapshot without the key or account is in place
// (so a lookup from f already misses it). f must not block: the SSH server
// ends the affected connections from it. The returned func unsubscribes.
func (d *Directory) Subscribe(f func(Change)) (cancel func()) {
	d.live.mu.Lock()
	defer d.live.mu.Unlock()
	if d.live.subs == nil {
		d.live.subs = map[int]func(Change){}
	}
	id := d.live.next
	d.live.next++
	d.live.subs[id] = f
	return func() {
		d.live.mu.Lock()
		delete(d.live.subs, id)
		d.live.mu.Unlock()
	}
}

// ConfigAccount, ConfigKeyOwner, ConfigDomainOwner and ConfigTCPOwner make
// a Directory the store's Guard: the config file's accounts, keys and
// reservations are read-only and taken.
func (d *Directory) ConfigAccount(name string) bool {
	for _, a := range d.conf.Load().accounts {
		if a.Name == name {
			return true
		}
	}
	return false
}

// ConfigKeys are the keys the config file gives account name, by
// fingerprint; none for a store account.
func (d *Directory) ConfigKeys(name string) []ssh.PublicKey {
	var out []ssh.PublicKey
	for k, a := range d.conf.Load().byKey {
		if a.Name != name {
			continue
		}
		if key, err := ssh.ParsePublicKey([]byte(k)); err == nil {
			out = append(out, key)
		}
	}
	slices.SortFunc(out, func(a, b ssh.PublicKey) int {
		return strings.Compare(ssh.FingerprintSHA256(a), ssh.FingerprintSHA256(b))
	})
	return out
}

// ConfigKeyOwner implements store.Guard.
func (d *Directory) ConfigKeyOwner(key ssh.PublicKey) string {
	if a := d.conf.Load().byKey[string(key.Marshal())]; a != nil {
		return a.Name
	}
	return ""
}

// ConfigDomainOwner implements store.Guard.
func (d *Directory) ConfigDomainOwner(name string) string {
	if a := d.conf.Load().byName[name]; a != nil {
		return a.Name
	}
	return ""
}

// ConfigTCPOwner implements store.Guard.
func (d *Directory) ConfigTCPOwner(hostport string) string {
	if a := d.conf.Load().byTCP[hostport]; a != nil {
		return a.Name
	}
	return ""
}

var _ store.Guard = (*Directory)(nil)

// Follow loads the store's accounts into d, merged after the config's,
// then keeps d current from the store's watch until ctx ends, in a
// goroutine. The first load's error is returned; later ones are logged and
// the last good snapshot stays.
func (d *Directory) Follow(ctx context.Context, r *store.Records, log *slog.Logger) error {
	rev, err := r.KV.Revision(ctx)
	if err != nil {
		return err
	}
	if err := d.reload(ctx, r); err != nil {
		return err
	}
	go func() {
		for ctx.Err() == nil {
			for resp := range r.KV.Watch(ctx, "", rev+1) {
				if resp.Err != nil {
					log.Error("store watch ended; reloading", "err", resp.Err)
					break
				}
				rev = resp.Revision
				if err := d.reload(ctx, r); err != nil && ctx.Err() == nil {
					log.Error("store reload failed; the previous accounts stay in force", "err", err)
				}
			}
			if ctx.Err() == nil {
				// A compacted or failed watch: start again from now.
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
				if cur, err := r.KV.Revision(ctx); err == nil {
					rev = cur
					d.reload(ctx, r)
				}
			}
		}
	}()
	return nil
}

// reload builds a snapshot from the config and the store, swaps it in and
// tells subscribers what was taken away.
func (d *Directory) reload(ctx context.Context, r *store.Records) error {
	accts, err := r.Accounts(ctx)
	if err != nil {
		return err
	}
	keys, err := r.Keys(ctx, "")
	if err != nil {
		return err
	}
	doms, err := r.Reservations(ctx, store.DomainsPrefix, "")
	if err != nil {
		return err
	}
	tcps, err := r.Reservations(ctx, store.TCPPrefix, "")
	if err != nil {
		return err
	}
	d.live.reloadMu.Lock()
	defer d.live.reloadMu.Unlock()
	conf := d.conf.Load()
	v := &view{
		accounts: append([]*Account(nil), conf.accounts...),
		byKey:    make(map[string]*Account, len(conf.byKey)+len(keys)),
		byName:   make(map[string]*Account, len(conf.byName)+len(doms)),
		byTCP:    make(map[string]*Account, len(conf.byTCP)+len(tcps)),
	}
	for k, a := range conf.byKey {
		v.byKey[k] = a
	}
	for k, a := range conf.byName {
		v.byName[k] = a
	}
	for k, a := range conf.byTCP {
		v.byTCP[k] = a
	}
	byName := map[string]*Account{}
	for _, sa := range accts {
		if d.ConfigAccount(sa.Name) {
			continue // the config file wins
		}
		a := &Account{Name: sa.Name, FromStore: true}
		byName[a.Name] = a
		v.accounts = append(v.accounts, a)
	}
	for _, k := range keys {
		a := byName[k.Account]
		pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k.AuthorizedKey))
		if a == nil || err != nil {
			continue
		}
		if _, taken := v.byKey[string(pk.Marshal())]; !taken {
			v.byKey[string(pk.Marshal())] = a
		}
	}
	for _, res := range doms {
		if a := byName[res.Account]; a != nil && v.byName[res.Name] == nil {
			v.byName[res.Name] = a
			a.Domains = append(a.Domains, res.Name)
		}
	}
	for _, res := range tcps {
		if a := byName[res.Account]; a != nil && v.byTCP[res.Name] == nil {
			v.byTCP[res.Name] = a
			a.TCPAddresses = append(a.TCPAddresses, res.Name)
		}
	}
	old := d.cur.Swap(v)
	d.notify(old, v)
	return nil
}

// notify tells subscribers of the accounts and keys in old but not in v.
func (d *Directory) notify(old, v *view) {
	var changes []Change
	gone := map[string]bool{}
	for _, a := range old.accounts {
		if v.accountNamed(a.Name) == nil {
			gone[a.Name] = true
			changes = append(changes, Change{Account: a.Name, Reason: fmt.Sprintf("Your account %s was removed from this edge; its tunnels are closed.", a.Name)})
		}
	}
	for k, a := range old.byKey {
		if gone[a.Name] {
			continue
		}
		if now := v.byKey[k]; now == nil || now.Name != a.Name {
			pk, err := ssh.ParsePublicKey([]byte(k))
			if err != nil {
				continue
			}
			fp := ssh.FingerprintSHA256(pk)
			changes = append(changes, Change{Account: a.Name, Key: fp, Reason: fmt.Sprintf("Your key %s was removed from account %s on this edge; this connection is closed.", fp, a.Name)})
		}
	}
	if len(changes) == 0 {
		return
	}
	d.live.mu.Lock()
	subs := make([]func(Change), 0, len(d.live.subs))
	for _, f := range d.live.subs {
		subs = append(subs, f)
	}
	d.live.mu.Unlock()
	for _, c := range changes {
		for _, f := range subs {
			f(c)
		}
	}
}

func (v *view) accountNamed(name string) *Account {
	for _, a := range v.accounts {
		if a.Name == name {
			return a
		}
	}
	return nil
}
