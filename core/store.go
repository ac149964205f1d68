package core

import (
	"context"

	"github.com/sshgress/sshgress/core/account"
	"github.com/sshgress/sshgress/core/store"
)

// edgeStore is the edge's store and what follows it.
type edgeStore struct {
	kv      *store.Bolt
	records *store.Records
	cancel  context.CancelFunc
}

// openStore opens the store in the data dir (store.FileName) and makes
// accounts a live view of the config's accounts merged with the store's.
// A locked, truncated or corrupt file stops start-up with an error naming
// it.
func (e *Edge) openStore(accounts *account.Directory) error {
	kv, err := store.Open(e.cfg.DataDir)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &store.Records{KV: kv, Base: e.cfg.Domain, Guard: accounts}
	if err := accounts.Follow(ctx, r, e.log.With("part", "store")); err != nil {
		cancel()
		kv.Close()
		return err
	}
	e.store = &edgeStore{kv: kv, records: r, cancel: cancel}
	return nil
}

// revokeLive ends the SSH connections of keys and accounts removed from
// the store.
func (e *Edge) revokeLive(accounts *account.Directory) {
	accounts.Subscribe(e.ssh.Revoke)
}

// closeStore stops following the store and closes it. Idempotent.
func (e *Edge) closeStore() {
	if e.store == nil {
		return
	}
	e.store.cancel()
	e.store.kv.Close()
}

// Store is the edge's typed store: accounts, keys, reservations, invites
// and tokens, applied live (the admin API writes through it).
func (e *Edge) Store() *store.Records { return e.store.records }
