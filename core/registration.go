package core

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/sshgress/sshgress/core/config"
	"github.com/sshgress/sshgress/core/sshserver"
	"github.com/sshgress/sshgress/core/store"
	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"
)

// registrar redeems invite codes from `ssh … register CODE` into store
// keys (ssh.registration: invite).
type registrar struct{ records *store.Records }

var _ sshserver.Registrar = registrar{}

// Register uses code once and adds key to the invited account, in one
// store transaction (a refused key leaves the invite unused).
func (r registrar) Register(ctx context.Context, code string, key ssh.PublicKey) (string, error) {
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
	inv, _, err := r.records.RegisterKey(ctx, code, line, "registered over ssh")
	if err != nil {
		return "", err
	}
	return inv.Account, nil
}

// sshRegistrar is the SSH server's Registrar: nil unless
// ssh.registration is invite.
func (e *Edge) sshRegistrar() sshserver.Registrar {
	if e.cfg.SSH.Registration != config.RegistrationInvite {
		return nil
	}
	return registrar{e.store.records}
}

// touchEvery is how often a key's last use is written at most.
const touchEvery = time.Minute

// keyTouch records keys' last use in the store, at most once per
// touchEvery per key, off the login path and bounded.
type keyTouch struct {
	records *store.Records
	mu      sync.Mutex
	last    map[string]time.Time // by fingerprint
	busy    bool
}

// used is sshserver.Config.KeyUsed: it never blocks.
func (t *keyTouch) used(account, fingerprint string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	if now.Sub(t.last[fingerprint]) < touchEvery || t.busy {
		return
	}
	if len(t.last) > 4096 {
		for fp, at := range t.last {
			if now.Sub(at) >= touchEvery {
				delete(t.last, fp)
			}
		}
	}
	t.last[fingerprint] = now
	t.busy = true
	go func() {
		defer func() { t.mu.Lock(); t.busy = false; t.mu.Unlock() }()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		keys, err := t.records.Keys(ctx, account)
		if err != nil {
			return
		}
		for _, k := range keys {
			if k.Fingerprint == fingerprint {
				t.records.TouchKey(ctx, k.ID)
				return
			}
		}
	}()
}
