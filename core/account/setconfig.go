package account

import (
	"context"

	"github.com/sshgress/sshgress/core/store"
)

// SetConfig replaces the config file's accounts with specs (a re-read
// config file), checked as NewDirectory checks them, and rebuilds the
// snapshot with the store's accounts from r (nil: none). Subscribers learn
// of keys and accounts it takes away, as for a store removal. On error
// nothing changes.
func (d *Directory) SetConfig(ctx context.Context, specs []Spec, r *store.Records) error {
	next, err := NewDirectory(d.base, specs)
	if err != nil {
		return err
	}
	old := d.conf.Swap(next.conf.Load())
	if r != nil {
		if err := d.reload(ctx, r); err != nil {
			d.conf.Store(old)
			return err
		}
		return nil
	}
	d.live.reloadMu.Lock()
	defer d.live.reloadMu.Unlock()
	v := d.conf.Load()
	d.notify(d.cur.Swap(v), v)
	return nil
}
