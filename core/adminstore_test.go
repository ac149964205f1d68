package core

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/account"
	"github.com/sshgress/sshgress/core/admin"
	"github.com/sshgress/sshgress/core/store"
	"github.com/sshgress/sshgress/core/usererr"
	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"
)

func newKeyLine(t *testing.T) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp)))
}

func TestAdminStoreOverRecords(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir, err := account.NewDirectory("localhost", []account.Spec{{Name: "ann", Keys: []string{newKeyLine(t)}}})
	if err != nil {
		t.Fatal(err)
	}
	kv, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer kv.Close()
	s := &adminStore{records: &store.Records{KV: kv, Base: "localhost", Guard: dir}, dir: dir}

	if _, err := s.CreateAccount(ctx, "ann"); !errors.Is(err, admin.ErrReadOnly) || !strings.Contains(err.Error(), "config file") {
		t.Errorf("create config account: got %v, want ErrReadOnly saying it comes from the config file", err)
	}
	if _, err := s.CreateAccount(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Account(ctx, "nobody"); !errors.Is(err, admin.ErrNotFound) {
		t.Errorf("unknown account: got %v, want ErrNotFound", err)
	}
	if keys, err := s.Keys(ctx, "ann"); err != nil || len(keys) != 1 || !strings.HasPrefix(keys[0].Fingerprint, "SHA256:") {
		t.Errorf("a config account's keys: got %+v, %v; want its one key, listed", keys, err)
	}
	for _, tc := range []struct {
		name, account, line string
		want                error
	}{
		{"no such account", "nobody", newKeyLine(t), admin.ErrNotFound},
		{"malformed key", "carol", "ssh-ed25519 AAAA", admin.ErrInvalid},
	} {
		if _, err := s.AddKey(ctx, tc.account, admin.Key{PublicKey: tc.line}); !errors.Is(err, tc.want) || !usererr.Is(err) {
			t.Errorf("%s: got %v, want a sentence marked %v", tc.name, err, tc.want)
		}
	}
	k, err := s.AddKey(ctx, "carol", admin.Key{PublicKey: newKeyLine(t), Label: "laptop"})
	if err != nil || k.ID == "" || !strings.HasPrefix(k.Fingerprint, "SHA256:") || k.Type != "ssh-ed25519" {
		t.Fatalf("add key: got %+v, %v", k, err)
	}
	if _, err := s.AddKey(ctx, "carol", admin.Key{PublicKey: k.PublicKey}); !errors.Is(err, admin.ErrConflict) {
		t.Errorf("the same key again: got %v, want ErrConflict", err)
	}
	if err := s.DeleteKey(ctx, "carol", "no-such-id"); !errors.Is(err, admin.ErrNotFound) {
		t.Errorf("delete an unknown key: got %v, want ErrNotFound", err)
	}
	accts, err := s.Accounts(ctx)
	if err != nil || len(accts) != 2 || accts[0].Source != "config" || accts[0].Keys != 1 || accts[1].Keys != 1 {
		t.Errorf("accounts: got %+v, %v; want ann (config) and carol with 1 key", accts, err)
	}

	const secret = "a-token-secret-of-enough-entropy"
	if err := s.CreateToken(ctx, "carol", admin.Digest(secret)); err != nil {
		t.Fatal(err)
	}
	if sc, err := s.TokenScope(ctx, admin.Digest(secret)); err != nil || sc.Operator || sc.Account != "carol" {
		t.Errorf("token scope: got %+v, %v; want carol's", sc, err)
	}
	if _, err := s.TokenScope(ctx, admin.Digest("other")); !errors.Is(err, admin.ErrNotFound) {
		t.Errorf("unknown token: got %v, want ErrNotFound", err)
	}
	const code = "an-invite-code-of-enough-entropy"
	if err := s.CreateInvite(ctx, admin.Invite{Account: "carol", CodeHash: admin.Digest(code), Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if inv, err := s.records.RedeemInvite(ctx, code); err != nil || inv.Account != "carol" {
		t.Errorf("redeem the api's invite over ssh: got %+v, %v", inv, err)
	}
}
