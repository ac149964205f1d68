package account

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/store"
	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"
)

func newPub(t *testing.T) (ssh.PublicKey, string) {
	t.Helper()
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}

// eventually waits, at most 5 s, for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 5s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLiveDirectoryFollowsTheStore(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	annKey, annLine := newPub(t)
	dir, err := NewDirectory("localhost", []Spec{{Name: "ann", Keys: []string{annLine}, Domains: []string{"ann"}}})
	if err != nil {
		t.Fatal(err)
	}
	kv, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer kv.Close()
	r := &store.Records{KV: kv, Base: "localhost", Guard: dir}
	if err := dir.Follow(ctx, r, slog.Default()); err != nil {
		t.Fatal(err)
	}
	changes := make(chan Change, 16)
	defer dir.Subscribe(func(c Change) { changes <- c })()

	// The config account is read-only; its key and names are taken.
	if _, err := r.CreateAccount(ctx, "ann"); err == nil || !strings.Contains(err.Error(), "config file") {
		t.Errorf("creating config account ann: %v", err)
	}
	if _, err := r.CreateAccount(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.AddKey(ctx, "ann", annLine, ""); err == nil || !strings.Contains(err.Error(), "config file") {
		t.Errorf("adding a key to config account ann: %v", err)
	}
	if _, err := r.AddKey(ctx, "bob", annLine, ""); err == nil || !strings.Contains(err.Error(), "another account") {
		t.Errorf("adding ann's config key to bob: %v", err)
	}
	if _, err := r.ReserveDomain(ctx, "bob", "ann"); err == nil {
		t.Errorf("bob reserved ann's config domain")
	}

	bobKey, bobLine := newPub(t)
	k, err := r.AddKey(ctx, "bob", bobLine, "laptop")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "bob's stored key is found", func() bool { a := dir.ByKey(bobKey); return a != nil && a.Name == "bob" })
	if a := dir.ByKey(annKey); a == nil || a.Name != "ann" {
		t.Errorf("ann's config key: %v", a)
	}
	if _, err := r.ReserveDomain(ctx, "bob", "bobsite"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "bob's reservation applies", func() bool { a := dir.Owner("bobsite.localhost"); return a != nil && a.Name == "bob" })

	if err := r.RemoveKey(ctx, "bob", k.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-changes:
		if c.Account != "bob" || c.Key != k.Fingerprint || !strings.Contains(c.Reason, "removed") {
			t.Errorf("change %+v, want bob's key %s removed", c, k.Fingerprint)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no change for the removed key within 5s")
	}
	if dir.ByKey(bobKey) != nil {
		t.Errorf("the removed key still logs in")
	}
	if err := r.DeleteAccount(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-changes:
		if c.Account != "bob" || c.Key != "" {
			t.Errorf("change %+v, want account bob removed", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no change for the removed account within 5s")
	}
	if dir.ByName("bob") != nil || dir.Owner("bobsite.localhost") != nil {
		t.Errorf("the removed account or its reservation is still there")
	}
}
