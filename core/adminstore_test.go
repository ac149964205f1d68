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
	k, err := s.AddKey(ctx, "carol", admin.Key{PublicKey: newKeyLine(t), Label: "laptop"})
	if err != nil || k.ID == "" || !strings.HasPrefix(k.Fingerprint, "SHA256:") || k.Type != "ssh-ed25519" {
		t.Fatalf("add key: got %+v, %v", k, err)
	}
	// The records' refusals keep their user sentence and pick the status.
	if _, err := s.CreateAccount(ctx, "dave"); err != nil {
		t.Fatal(err)
	}
	refusals := []struct {
		name string
		err  error
		want error
		msg  string
	}{
		{"existing account", func() error { _, err := s.CreateAccount(ctx, "carol"); return err }(), admin.ErrConflict, `"carol" already exists`},
		{"key of another account", func() error { _, err := s.AddKey(ctx, "dave", admin.Key{PublicKey: k.PublicKey}); return err }(), admin.ErrConflict, "another account"},
		{"key to an unknown account", func() error { _, err := s.AddKey(ctx, "nobody", admin.Key{PublicKey: newKeyLine(t)}); return err }(), admin.ErrNotFound, `no account "nobody"`},
		{"unknown key", s.DeleteKey(ctx, "carol", "nokey"), admin.ErrNotFound, `has no key "nokey"`},
		{"domain of another account", func() error {
			if err := s.Reserve(ctx, "dave", admin.Reservation{Kind: admin.KindDomain, Value: "daveapp.localhost"}); err != nil {
				t.Fatal(err)
			}
			return s.Reserve(ctx, "carol", admin.Reservation{Kind: admin.KindDomain, Value: "daveapp.localhost"})
		}(), admin.ErrConflict, "reserved by another account"},
		{"domain not reserved", s.Unreserve(ctx, "carol", admin.Reservation{Kind: admin.KindDomain, Value: "daveapp.localhost"}), admin.ErrNotFound, "has not reserved"},
	}
	for _, r := range refusals {
		if !errors.Is(r.err, r.want) || !strings.Contains(usererr.Message(r.err, ""), r.msg) {
			t.Errorf("%s: got %v, want %v with a sentence saying %q", r.name, r.err, r.want, r.msg)
		}
	}
	if err := s.DeleteAccount(ctx, "dave"); err != nil {
		t.Fatal(err)
	}

	accts, err := s.Accounts(ctx)
	if err != nil || len(accts) != 2 || accts[0].Source != "config" || accts[1].Keys != 1 {
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
