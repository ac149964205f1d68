package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/sshgress/sshgress/core/usererr"
	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"
)

// Errors the Records methods wrap (under a user sentence) so callers can
// tell a refusal's kind apart; match them with errors.Is.
var (
	// ErrNotFound: no such account, key or reservation of the account.
	ErrNotFound = errors.New("store: not found")
	// ErrTaken: the account name, key or reservation already belongs to
	// an account.
	ErrTaken = errors.New("store: taken")
)

// Origin says where an account comes from.
type Origin string

const (
	// OriginConfig accounts come from the config file and are read-only.
	OriginConfig Origin = "config"
	// OriginStore accounts were created in the store.
	OriginStore Origin = "store"
)

// Account is an account record (key accounts/<name>).
type Account struct {
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	Origin  Origin    `json:"origin"`
}

// Key is an SSH key record (key keys/<id>): one key belongs to one account.
type Key struct {
	// ID is the key's id in URLs: the unpadded base64url SHA-256 of the key.
	ID      string `json:"id"`
	Account string `json:"account"`
	// AuthorizedKey is the key as an authorized_keys line, without comment.
	AuthorizedKey string    `json:"authorized_key"`
	Fingerprint   string    `json:"fingerprint"` // "SHA256:…"
	Label         string    `json:"label"`
	Added         time.Time `json:"added"`
	LastUsed      time.Time `json:"last_used,omitzero"`
	// AccountRev is the CreateRevision of the account when the key was
	// added: a key outlives a deleted account only as an orphan, never
	// valid for a new account of the same name.
	AccountRev int64 `json:"account_rev"`
}

// Reservation is a reserved domain (domains/<name>) or TCP address
// (tcp/<host:port>) of an account.
type Reservation struct {
	Name       string    `json:"name"`
	Account    string    `json:"account"`
	Created    time.Time `json:"created"`
	AccountRev int64     `json:"account_rev"`
}

// Invite is an invite record (invites/<hash>): the code's SHA-256 only.
type Invite struct {
	Hash       string    `json:"hash"`
	Account    string    `json:"account"`
	Expires    time.Time `json:"expires"`
	Used       time.Time `json:"used,omitzero"`
	AccountRev int64     `json:"account_rev"`
}

// Token is an API token record (tokens/<hash>): the token's SHA-256 only.
// Account "" is the operator scope.
type Token struct {
	Hash       string    `json:"hash"`
	Account    string    `json:"account,omitempty"`
	Created    time.Time `json:"created"`
	Label      string    `json:"label"`
	AccountRev int64     `json:"account_rev,omitempty"`
}

// Guard refuses writes that clash with what the config file holds (its
// accounts are read-only; their keys and reservations are taken). A nil
// Guard allows everything.
type Guard interface {
	// ConfigAccount reports whether name is an account of the config file.
	ConfigAccount(name string) bool
	// ConfigKeyOwner is the config account holding the key, or "".
	ConfigKeyOwner(key ssh.PublicKey) string
	// ConfigDomainOwner / ConfigTCPOwner: the config account reserving the
	// normalised name or address, or "".
	ConfigDomainOwner(name string) string
	ConfigTCPOwner(hostport string) string
}

// Records are typed records on a Store. Refusals a user should read are
// usererr errors: clear sentences, with nothing secret in them.
type Records struct {
	KV Store
	// Base is the normalised base domain: a bare label reserved is
	// "<label>.<Base>"; Base itself cannot be reserved.
	Base string
	// Guard checks writes against the config file; nil for none.
	Guard Guard
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// accountNameRE is the account name rule of the config file.
var accountNameRE = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)

// txnTries bounds the retries of a read-then-write that lost a race.
const txnTries = 16

func (r *Records) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC()
	}
	return time.Now().UTC()
}

func (r *Records) fromConfig(name string) bool { return r.Guard != nil && r.Guard.ConfigAccount(name) }

func configRefusal(name string) error {
	return usererr.Errorf("account %q comes from the edge's config file, which is read-only here; change it in the config file instead", name)
}

// get decodes the JSON record at key into v; false if absent.
func (r *Records) get(ctx context.Context, key string, v any) (*KV, error) {
	kv, err := r.KV.Get(ctx, key)
	if err != nil || kv == nil {
		return nil, err
	}
	if err := json.Unmarshal(kv.Value, v); err != nil {
		return nil, fmt.Errorf("store: %s: %w", key, err)
	}
	return kv, nil
}

// CreateAccount creates a store account.
func (r *Records) CreateAccount(ctx context.Context, name string) (Account, error) {
	if !accountNameRE.MatchString(name) {
		return Account{}, usererr.Errorf("account name %q is not valid: use 1 to 64 letters, digits, '.', '_', '@' or '-'", name)
	}
	if r.fromConfig(name) {
		return Account{}, configRefusal(name)
	}
	a := Account{Name: name, Created: r.now(), Origin: OriginStore}
	data, _ := json.Marshal(a)
	_, err := r.KV.Txn(ctx, Txn{If: []Compare{Absent(AccountsPrefix + name)}, Then: []Op{Put(AccountsPrefix+name, data)}})
	if errors.Is(err, ErrConflict) {
		return Account{}, usererr.Wrap(ErrTaken, fmt.Sprintf("account %q already exists", name))
	}
	return a, err
}

// account returns the live account record and its KV, or a user error.
func (r *Records) account(ctx context.Context, name string) (Account, *KV, error) {
	if r.fromConfig(name) {
		return Account{}, nil, configRefusal(name)
	}
	var a Account
	kv, err := r.get(ctx, AccountsPrefix+name, &a)
	if err != nil {
		return Account{}, nil, err
	}
	if kv == nil {
		return Account{}, nil, usererr.Wrap(ErrNotFound, fmt.Sprintf("there is no account %q", name))
	}
	return a, kv, nil
}

// Account returns the store account name; ok false if there is none.
func (r *Records) Account(ctx context.Context, name string) (Account, bool, error) {
	var a Account
	kv, err := r.get(ctx, AccountsPrefix+name, &a)
	return a, kv != nil, err
}

// Accounts lists the store accounts by name.
func (r *Records) Accounts(ctx context.Context) ([]Account, error) {
	return list[Account](ctx, r.KV, AccountsPrefix)
}

func list[T any](ctx context.Context, kv Store, prefix string) ([]T, error) {
	kvs, _, err := kv.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(kvs))
	for _, x := range kvs {
		var v T
		if err := json.Unmarshal(x.Value, &v); err != nil {
			return nil, fmt.Errorf("store: %s: %w", x.Key, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// owned is what every per-account record has.
type owned struct {
	Account    string `json:"account"`
	AccountRev int64  `json:"account_rev"`
}

// DeleteAccount removes a store account with its keys, reservations,
// invites and tokens, in one transaction.
func (r *Records) DeleteAccount(ctx context.Context, name string) error {
	for range txnTries {
		_, akv, err := r.account(ctx, name)
		if err != nil {
			return err
		}
		t := Txn{If: []Compare{Unchanged(akv.Key, akv.ModRevision)}, Then: []Op{Delete(akv.Key)}}
		for _, p := range []string{KeysPrefix, DomainsPrefix, TCPPrefix, InvitesPrefix, TokensPrefix} {
			kvs, _, err := r.KV.List(ctx, p)
			if err != nil {
				return err
			}
			for _, x := range kvs {
				var o owned
				if json.Unmarshal(x.Value, &o) == nil && o.Account == name {
					t.If = append(t.If, Unchanged(x.Key, x.ModRevision))
					t.Then = append(t.Then, Delete(x.Key))
				}
			}
		}
		_, err = r.KV.Txn(ctx, t)
		if !errors.Is(err, ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("store: delete account %q: too many concurrent changes; try again", name)
}

// live reports whether a record of account at accountRev still belongs to
// a live account (not an orphan of a deleted one).
func (r *Records) live(ctx context.Context, o owned) (bool, error) {
	kv, err := r.KV.Get(ctx, AccountsPrefix+o.Account)
	if err != nil {
		return false, err
	}
	return kv != nil && kv.CreateRevision == o.AccountRev, nil
}
