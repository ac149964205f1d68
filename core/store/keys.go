package store

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/sshgress/sshgress/core/sshkey"
	"github.com/sshgress/sshgress/core/usererr"
	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"
)

// KeyID is a key's id: the unpadded base64url SHA-256 of its wire form.
func KeyID(key ssh.PublicKey) string {
	sum := sha256.Sum256(key.Marshal())
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// AddKey adds an authorized_keys line to a store account. A key is unique
// across all accounts, config and store: a key another account holds is
// refused with a sentence saying so. Validation is sshkey.ParseLine.
func (r *Records) AddKey(ctx context.Context, account, line, label string) (Key, error) {
	key, comment, err := sshkey.ParseLine(line)
	if err != nil {
		return Key{}, usererr.New(err.Error())
	}
	if label == "" {
		label = comment
	}
	if len(label) > 200 {
		return Key{}, usererr.New("the key's label is longer than 200 characters")
	}
	if r.fromConfig(account) {
		return Key{}, configRefusal(account)
	}
	fp := ssh.FingerprintSHA256(key)
	if r.Guard != nil {
		if owner := r.Guard.ConfigKeyOwner(key); owner != "" {
			return Key{}, keyTaken(fp, owner, account)
		}
	}
	id := KeyID(key)
	for range txnTries {
		_, akv, err := r.account(ctx, account)
		if err != nil {
			return Key{}, err
		}
		t := Txn{If: []Compare{Unchanged(akv.Key, akv.ModRevision)}}
		var prev Key
		pkv, err := r.get(ctx, KeysPrefix+id, &prev)
		if err != nil {
			return Key{}, err
		}
		if pkv != nil {
			ok, err := r.live(ctx, owned{prev.Account, prev.AccountRev})
			if err != nil {
				return Key{}, err
			}
			if ok {
				return Key{}, keyTaken(fp, prev.Account, account)
			}
			t.If = append(t.If, Unchanged(pkv.Key, pkv.ModRevision)) // an orphan: free
		} else {
			t.If = append(t.If, Absent(KeysPrefix+id))
		}
		k := Key{ID: id, Account: account, AuthorizedKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key))),
			Fingerprint: fp, Label: label, Added: r.now(), AccountRev: akv.CreateRevision}
		data, _ := json.Marshal(k)
		t.Then = []Op{Put(KeysPrefix+id, data)}
		if _, err = r.KV.Txn(ctx, t); !errors.Is(err, ErrConflict) {
			return k, err
		}
	}
	return Key{}, fmt.Errorf("store: add key: too many concurrent changes; try again")
}

func keyTaken(fp, owner, account string) error {
	if owner == account {
		return usererr.Wrap(ErrTaken, fmt.Sprintf("the key %s is already a key of account %q", fp, owner))
	}
	return usererr.Wrap(ErrTaken, fmt.Sprintf("the key %s is already a key of another account; a key can belong to one account only", fp))
}

// Keys lists the live keys of a store account ("" for every account's).
func (r *Records) Keys(ctx context.Context, account string) ([]Key, error) {
	all, err := list[Key](ctx, r.KV, KeysPrefix)
	if err != nil {
		return nil, err
	}
	var out []Key
	for _, k := range all {
		if account != "" && k.Account != account {
			continue
		}
		if ok, err := r.live(ctx, owned{k.Account, k.AccountRev}); err != nil {
			return nil, err
		} else if ok {
			out = append(out, k)
		}
	}
	return out, nil
}

// RemoveKey removes the key id from account.
func (r *Records) RemoveKey(ctx context.Context, account, id string) error {
	if r.fromConfig(account) {
		return configRefusal(account)
	}
	var k Key
	kv, err := r.get(ctx, KeysPrefix+id, &k)
	if err != nil {
		return err
	}
	if kv == nil || k.Account != account {
		return usererr.Wrap(ErrNotFound, fmt.Sprintf("account %q has no key %q", account, id))
	}
	_, err = r.KV.Txn(ctx, Txn{If: []Compare{Unchanged(kv.Key, kv.ModRevision)}, Then: []Op{Delete(kv.Key)}})
	if errors.Is(err, ErrConflict) {
		return usererr.New("the key changed meanwhile; list the keys and try again")
	}
	return err
}

// TouchKey records that key id was just used to log in (best effort: a
// concurrent change wins).
func (r *Records) TouchKey(ctx context.Context, id string) error {
	var k Key
	kv, err := r.get(ctx, KeysPrefix+id, &k)
	if err != nil || kv == nil {
		return err
	}
	k.LastUsed = r.now()
	data, _ := json.Marshal(k)
	_, err = r.KV.Txn(ctx, Txn{If: []Compare{Unchanged(kv.Key, kv.ModRevision)}, Then: []Op{Put(kv.Key, data)}})
	if errors.Is(err, ErrConflict) {
		return nil
	}
	return err
}
