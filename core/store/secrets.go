package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/sshgress/sshgress/core/usererr"
)

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
	inv, use, err := r.useInvite(ctx, code)
	if err != nil {
		return Invite{}, err
	}
	if _, err := r.KV.Txn(ctx, use); err != nil {
		if errors.Is(err, ErrConflict) {
			return Invite{}, errBadInvite
		}
		return Invite{}, err
	}
	return inv, nil
}

// RegisterKey uses code once and adds line to the invited account, in one
// transaction: a key that cannot be added (weak, already on an account)
// leaves the invite unused, and an invite used at the same moment by
// someone else adds no key.
func (r *Records) RegisterKey(ctx context.Context, code, line, label string) (Invite, Key, error) {
	var inv Invite
	k, err := r.addKey(ctx, func(ctx context.Context) (string, Txn, error) {
		var use Txn
		var err error
		inv, use, err = r.useInvite(ctx, code)
		return inv.Account, use, err
	}, line, label)
	if err != nil {
		return Invite{}, Key{}, err
	}
	return inv, k, nil
}

var errBadInvite = usererr.New("this invite code is not valid: it is unknown, expired or already used; ask the operator for a new one")

// useInvite reads the invite of code and returns it with the transaction
// that marks it used if it has not changed since. An unknown, expired or
// used code, or one whose account is gone, is errBadInvite.
func (r *Records) useInvite(ctx context.Context, code string) (Invite, Txn, error) {
	var inv Invite
	kv, err := r.get(ctx, InvitesPrefix+Hash(code), &inv)
	if err != nil {
		return Invite{}, Txn{}, err
	}
	if kv == nil || !inv.Used.IsZero() || !r.now().Before(inv.Expires) {
		return Invite{}, Txn{}, errBadInvite
	}
	if ok, err := r.live(ctx, owned{inv.Account, inv.AccountRev}); err != nil || !ok {
		return Invite{}, Txn{}, errors.Join(err, errBadInvite)
	}
	inv.Used = r.now()
	data, _ := json.Marshal(inv)
	return inv, Txn{If: []Compare{Unchanged(kv.Key, kv.ModRevision)}, Then: []Op{Put(kv.Key, data)}}, nil
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
