package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/sshgress/sshgress/core/route/dnsname"
	"github.com/sshgress/sshgress/core/sshkey"
	"github.com/sshgress/sshgress/core/usererr"
	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"
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
		return Account{}, usererr.Errorf("account %q already exists", name)
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
		return Account{}, nil, usererr.Errorf("there is no account %q", name)
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
		return usererr.Errorf("the key %s is already a key of account %q", fp, owner)
	}
	return usererr.Errorf("the key %s is already a key of another account; a key can belong to one account only", fp)
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
		return usererr.Errorf("account %q has no key %q", account, id)
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
		return Reservation{}, usererr.Errorf("%s is already reserved by another account", name)
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
				return Reservation{}, usererr.Errorf("%s is already reserved by another account", name)
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
		return usererr.Errorf("account %q has not reserved %s", account, name)
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

// Hash is the SHA-256, in hex, under which invites and tokens are stored.
func Hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

func newSecret() string {
	var b [24]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// CreateInvite makes a one-use invite to a store account valid for ttl,
// returning the code (only its hash is stored).
func (r *Records) CreateInvite(ctx context.Context, account string, ttl time.Duration) (string, Invite, error) {
	if ttl <= 0 || ttl > 30*24*time.Hour {
		return "", Invite{}, usererr.New("an invite's ttl must be more than 0 and at most 720h")
	}
	_, akv, err := r.account(ctx, account)
	if err != nil {
		return "", Invite{}, err
	}
	code := newSecret()
	inv := Invite{Hash: Hash(code), Account: account, Expires: r.now().Add(ttl), AccountRev: akv.CreateRevision}
	data, _ := json.Marshal(inv)
	_, err = r.KV.Txn(ctx, Txn{If: []Compare{Unchanged(akv.Key, akv.ModRevision), Absent(InvitesPrefix + inv.Hash)}, Then: []Op{Put(InvitesPrefix+inv.Hash, data)}})
	return code, inv, err
}

// RedeemInvite uses code once: it returns the invite's account and marks
// the invite used. An unknown, expired or used code is a user error.
func (r *Records) RedeemInvite(ctx context.Context, code string) (Invite, error) {
	bad := usererr.New("this invite code is not valid: it is unknown, expired or already used; ask the operator for a new one")
	var inv Invite
	kv, err := r.get(ctx, InvitesPrefix+Hash(code), &inv)
	if err != nil {
		return Invite{}, err
	}
	if kv == nil || !inv.Used.IsZero() || !r.now().Before(inv.Expires) {
		return Invite{}, bad
	}
	if ok, err := r.live(ctx, owned{inv.Account, inv.AccountRev}); err != nil || !ok {
		return Invite{}, errors.Join(err, bad)
	}
	inv.Used = r.now()
	data, _ := json.Marshal(inv)
	if _, err := r.KV.Txn(ctx, Txn{If: []Compare{Unchanged(kv.Key, kv.ModRevision)}, Then: []Op{Put(kv.Key, data)}}); err != nil {
		if errors.Is(err, ErrConflict) {
			return Invite{}, bad
		}
		return Invite{}, err
	}
	return inv, nil
}

// CreateToken makes an API token for account ("" for the operator scope),
// returning the secret (only its hash is stored).
func (r *Records) CreateToken(ctx context.Context, account, label string) (string, Token, error) {
	tok := Token{Account: account, Created: r.now(), Label: label}
	var ifs []Compare
	if account != "" {
		_, akv, err := r.account(ctx, account)
		if err != nil {
			return "", Token{}, err
		}
		tok.AccountRev = akv.CreateRevision
		ifs = append(ifs, Unchanged(akv.Key, akv.ModRevision))
	}
	secret := newSecret()
	tok.Hash = Hash(secret)
	data, _ := json.Marshal(tok)
	_, err := r.KV.Txn(ctx, Txn{If: append(ifs, Absent(TokensPrefix+tok.Hash)), Then: []Op{Put(TokensPrefix+tok.Hash, data)}})
	return secret, tok, err
}

// Token finds the live token with this secret; ok false if none.
func (r *Records) Token(ctx context.Context, secret string) (Token, bool, error) {
	return r.TokenByHash(ctx, Hash(secret))
}

// RevokeToken deletes the token with this hash.
func (r *Records) RevokeToken(ctx context.Context, hash string) error {
	_, err := r.KV.Txn(ctx, Txn{Then: []Op{Delete(TokensPrefix + hash)}})
	return err
}

// PutInvite stores an invite whose code the caller generated and hashed
// (Hash, the same digest as admin.Digest): the code itself never reaches
// the store. The ttl rule is CreateInvite's.
func (r *Records) PutInvite(ctx context.Context, account, hash string, expires time.Time) (Invite, error) {
	if ttl := expires.Sub(r.now()); ttl <= 0 || ttl > 30*24*time.Hour {
		return Invite{}, usererr.New("an invite's ttl must be more than 0 and at most 720h")
	}
	_, akv, err := r.account(ctx, account)
	if err != nil {
		return Invite{}, err
	}
	inv := Invite{Hash: hash, Account: account, Expires: expires.UTC(), AccountRev: akv.CreateRevision}
	data, _ := json.Marshal(inv)
	_, err = r.KV.Txn(ctx, Txn{If: []Compare{Unchanged(akv.Key, akv.ModRevision), Absent(InvitesPrefix + hash)}, Then: []Op{Put(InvitesPrefix+hash, data)}})
	return inv, err
}

// PutToken stores an API token the caller generated, by its hash only.
func (r *Records) PutToken(ctx context.Context, account, hash, label string) (Token, error) {
	tok := Token{Hash: hash, Account: account, Created: r.now(), Label: label}
	var ifs []Compare
	if account != "" {
		_, akv, err := r.account(ctx, account)
		if err != nil {
			return Token{}, err
		}
		tok.AccountRev = akv.CreateRevision
		ifs = append(ifs, Unchanged(akv.Key, akv.ModRevision))
	}
	data, _ := json.Marshal(tok)
	_, err := r.KV.Txn(ctx, Txn{If: append(ifs, Absent(TokensPrefix+hash)), Then: []Op{Put(TokensPrefix+hash, data)}})
	return tok, err
}

// TokenByHash finds the live token stored under hash; ok false if none.
func (r *Records) TokenByHash(ctx context.Context, hash string) (Token, bool, error) {
	var tok Token
	kv, err := r.get(ctx, TokensPrefix+hash, &tok)
	if err != nil || kv == nil {
		return Token{}, false, err
	}
	if tok.Account != "" {
		if ok, err := r.live(ctx, owned{tok.Account, tok.AccountRev}); err != nil || !ok {
			return Token{}, false, err
		}
	}
	return tok, true, nil
}
