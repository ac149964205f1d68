package dashboard

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/admin"
	"github.com/sshgress/sshgress/core/usererr"
	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"
)

// fakeStore implements the parts of admin.Store the adapter calls (the
// embedded nil interface panics on anything else).
type fakeStore struct {
	admin.Store
	keys    map[string]admin.Key // by fingerprint
	invites []admin.Invite
}

func (f *fakeStore) Account(_ context.Context, name string) (admin.Account, error) {
	switch name {
	case "ann":
		return admin.Account{Name: "ann", Source: "store"}, nil
	case "cfg":
		return admin.Account{Name: "cfg", Source: "config"}, nil
	}
	return admin.Account{}, admin.ErrNotFound
}

func (f *fakeStore) AddKey(_ context.Context, account string, k admin.Key) (admin.Key, error) {
	if account == "cfg" {
		return admin.Key{}, admin.ErrReadOnly
	}
	if _, ok := f.keys[k.Fingerprint]; ok {
		return admin.Key{}, admin.ErrConflict
	}
	k.ID = "k1"
	f.keys[k.Fingerprint] = k
	return k, nil
}

func (f *fakeStore) CreateInvite(_ context.Context, inv admin.Invite) error {
	f.invites = append(f.invites, inv)
	return nil
}

type fakeTunnels struct{ ended []string }

func (f *fakeTunnels) Tunnels(context.Context) []admin.Tunnel {
	return []admin.Tunnel{{ID: "t1", Account: "ann"}, {ID: "t2", Account: "bob"}}
}

func (f *fakeTunnels) EndTunnel(_ context.Context, id, reason string) error {
	f.ended = append(f.ended, id+": "+reason)
	return nil
}

// TestAdminBackend checks the adapter's key rule, its sentences for the
// store's conflicts, tunnel ownership and invite digests.
func TestAdminBackend(t *testing.T) {
	st := &fakeStore{keys: map[string]admin.Key{}}
	tun := &fakeTunnels{}
	b := AdminBackend(st, tun)
	good := newPublicKey(t, "ann@laptop")
	k, err := b.AddKey("ann", good, "")
	if err != nil || k.Label != "ann@laptop" || !strings.HasPrefix(k.Fingerprint, "SHA256:") {
		t.Fatalf("AddKey(good) = %+v, %v", k, err)
	}
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 1024)
	pk, _ := ssh.NewPublicKey(&rsaKey.PublicKey)
	weak := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk)))
	for _, tc := range []struct{ name, account, key, want string }{
		{"again", "ann", good, "already registered"},
		{"config account", "cfg", newPublicKey(t, "x"), "config file"},
		{"rsa 1024", "ann", weak, "cannot be added"},
		{"garbage", "ann", "ssh-ed25519 AAAA", "cannot be added"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := b.AddKey(tc.account, tc.key, "")
			if !usererr.Is(err) || !strings.Contains(usererr.Message(err, ""), tc.want) {
				t.Errorf("err = %v, want a sentence with %q", err, tc.want)
			}
		})
	}
	if len(st.keys) != 1 {
		t.Errorf("store has %d keys, want 1", len(st.keys))
	}
	if err := b.CloseTunnel("ann", "t2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ann closing bob's tunnel: %v, want ErrNotFound", err)
	}
	if err := b.CloseTunnel("ann", "t1"); err != nil || len(tun.ended) != 1 || !strings.Contains(tun.ended[0], "dashboard") {
		t.Errorf("ann closing her tunnel: %v, ended %v", err, tun.ended)
	}
	code, err := b.CreateInvite("ann", time.Hour)
	if err != nil || len(st.invites) != 1 || st.invites[0].CodeHash != admin.Digest(code) || st.invites[0].CodeHash == code {
		t.Errorf("invite: code %q err %v stored %+v", code, err, st.invites)
	}
	if _, err := b.CreateInvite("nobody", time.Hour); !usererr.Is(err) {
		t.Errorf("invite to an unknown account: %v, want a sentence", err)
	}
}
