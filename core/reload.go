package core

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/sshgress/sshgress/core/account"
	"github.com/sshgress/sshgress/core/config"
)

// accountSpecs are cfg's accounts as the directory takes them.
func accountSpecs(cfg *config.Config) []account.Spec {
	specs := make([]account.Spec, 0, len(cfg.Accounts))
	for _, a := range cfg.Accounts {
		specs = append(specs, account.Spec{Name: a.Name, Keys: a.Keys, KeysFile: a.KeysFile, Domains: a.Domains, TCPAddresses: a.TCPAddresses})
	}
	return specs
}

// Reload applies a re-read config file (SIGHUP) without dropping tunnels:
// the config's accounts, their keys and reservations change live (a
// removed key or account ends its connections, as a store removal does).
// Settings that cannot change in a running edge (listeners, domain, data
// dir, registration, limits, plugin and certificate settings) are kept as
// they were, and the log names them. A cfg the directory refuses changes
// nothing; the error says why.
func (e *Edge) Reload(cfg *config.Config) error {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	old := *e.cfg // never written: Reload tracks the accounts it applied itself
	if e.reloaded != nil {
		old.Accounts = *e.reloaded
	}
	if cfg.Domain != old.Domain {
		err := fmt.Errorf("core: reload: domain changed from %s to %s, which needs a restart; nothing was changed", old.Domain, cfg.Domain)
		e.log.Error("config reload rejected", "err", err)
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.accounts.SetConfig(ctx, accountSpecs(cfg), e.store.records); err != nil {
		err = fmt.Errorf("core: reload: %w; the previous config stays in force", err)
		e.log.Error("config reload rejected", "err", err)
		return err
	}
	added, removed, changed := diffAccounts(old.Accounts, cfg.Accounts)
	var kept []string
	for _, k := range []struct {
		key  string
		a, b any
	}{
		{"ssh", old.SSH, cfg.SSH},
		{"http", old.HTTP, cfg.HTTP},
		{"https", old.HTTPS, cfg.HTTPS},
		{"data_dir", old.DataDir, cfg.DataDir},
		{"limits", old.Limits, cfg.Limits},
		{"plugins", old.Plugins, cfg.Plugins},
	} {
		if !reflect.DeepEqual(k.a, k.b) {
			kept = append(kept, k.key)
		}
	}
	accts := cfg.Accounts
	e.reloaded = &accts
	e.log.Info("config reloaded", "accounts_added", added, "accounts_removed", removed, "accounts_changed", changed)
	if len(kept) > 0 {
		e.log.Warn("config reload: these settings cannot change in a running edge and keep their old values until a restart (plugins cannot be reconfigured live)", "keys", kept)
	}
	return nil
}

// diffAccounts names the accounts added, removed and changed between two
// config files.
func diffAccounts(old, cur []config.Account) (added, removed, changed []string) {
	byName := map[string]config.Account{}
	for _, a := range old {
		byName[a.Name] = a
	}
	for _, a := range cur {
		o, ok := byName[a.Name]
		switch {
		case !ok:
			added = append(added, a.Name)
		case !reflect.DeepEqual(o, a):
			changed = append(changed, a.Name)
		}
		delete(byName, a.Name)
	}
	for name := range byName {
		removed = append(removed, name)
	}
	slices.Sort(removed)
	return added, removed, changed
}
