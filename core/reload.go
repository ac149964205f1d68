package core

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/sshgress/sshgress/core/account"
	"github.com/sshgress/sshgress/core/certs"
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
// removed key or account ends its connections, as a store removal does),
// and the certificate files (https.cert_file/key_file, admin.cert_file/
// key_file) are read again, so the next handshake gets the new
// certificate while connections already up keep theirs.
//
// A file with an account the directory refuses, or a certificate pair
// that does not load, changes nothing: the error says why and the log
// names the file. A changed domain also rejects the file (reservations
// are relative to it). Any other setting that cannot change in a running
// edge (listeners, data dir, limits, plugins, …) keeps its old value while
// the rest applies, and the log says, per key, to restart the edge.
func (e *Edge) Reload(cfg *config.Config) error {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	old := *e.cfg // never written: Reload tracks what it applied in e.applied
	if e.applied != nil {
		old = *e.applied
	}
	reject := func(err error) error {
		err = fmt.Errorf("core: reload: %w; the previous config stays in force", err)
		e.log.Error("config reload rejected", "err", err)
		return err
	}
	if cfg.Domain != old.Domain {
		return reject(fmt.Errorf("domain changed in the file from %s to %s: restart the edge to apply it", old.Domain, cfg.Domain))
	}
	// Every certificate is read before anything changes, so a broken
	// pair rejects the whole file.
	httpsPair, adminPair, err := e.readCertFiles(cfg)
	if err != nil {
		return reject(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.accounts.SetConfig(ctx, accountSpecs(cfg), e.store.records); err != nil {
		return reject(err)
	}
	added, removed, changed := diffAccounts(old.Accounts, cfg.Accounts)
	applied := old
	applied.Accounts = cfg.Accounts
	if httpsPair != nil {
		e.certs.SwapFiles(httpsPair)
		applied.HTTPS.CertFile, applied.HTTPS.KeyFile = cfg.HTTPS.CertFile, cfg.HTTPS.KeyFile
	}
	if adminPair != nil {
		e.adminCert.Swap(adminPair)
		applied.Admin.CertFile, applied.Admin.KeyFile = cfg.Admin.CertFile, cfg.Admin.KeyFile
	}
	e.applied = &applied
	e.log.Info("config reloaded", "accounts_added", added, "accounts_removed", removed, "accounts_changed", changed)
	// What is still different from the file needs a restart.
	for _, key := range config.Changed(&applied, cfg) {
		e.log.Warn(key + " changed in the file: restart the edge to apply it")
	}
	return nil
}

// readCertFiles reads the certificate pairs cfg names for the certificates
// the edge serves from files: nil for one that is not in use (no TLS port,
// no admin certificate, or the file does not set one: turning a
// certificate file on or off needs a restart).
func (e *Edge) readCertFiles(cfg *config.Config) (httpsPair, adminPair *certs.Pair, err error) {
	if e.certs != nil && e.certs.HasFiles() && cfg.HTTPS.CertFile != "" {
		if httpsPair, err = certs.ReadPair("https", cfg.HTTPS.CertFile, cfg.HTTPS.KeyFile); err != nil {
			return nil, nil, err
		}
	}
	if e.adminCert != nil && cfg.Admin.CertFile != "" {
		if adminPair, err = certs.ReadPair("admin", cfg.Admin.CertFile, cfg.Admin.KeyFile); err != nil {
			return nil, nil, err
		}
	}
	return httpsPair, adminPair, nil
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
