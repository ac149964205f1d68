package route

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sshgress/sshgress/core/account"
)

// TestBindTakeover: a name bound again by the same owner moves to the new
// tunnel at once, whatever kind of name it is; another owner never gets
// it. The anonymous account's owners are its keys.
func TestBindTakeover(t *testing.T) {
	dir, err := account.NewDirectory("localhost", []account.Spec{
		{Name: "ann", Keys: []string{keyLine(t)}, Domains: []string{"ann"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	n := &Namer{Base: "localhost", Accounts: dir, StableKey: []byte("0123456789abcdef0123456789abcdef")}
	ann := Claimant{Account: dir.ByName("ann"), Key: "SHA256:laptop"}
	annOtherKey := Claimant{Account: dir.ByName("ann"), Key: "SHA256:server"}
	bob := Claimant{Account: &account.Account{Name: "bob"}, Key: "SHA256:bob"}
	anonA := Claimant{Account: account.Anonymous(), Key: "SHA256:a"}
	anonB := Claimant{Account: account.Anonymous(), Key: "SHA256:b"}
	tests := []struct {
		name         string
		first, again Claimant
		remote       string
		wantTakeover bool // else the second claim is refused in use
	}{
		{name: "label, same account", first: ann, again: ann, remote: "dup", wantTakeover: true},
		{name: "label, same account, other key", first: ann, again: annOtherKey, remote: "dup", wantTakeover: true},
		{name: "label, other account", first: ann, again: bob, remote: "dup"},
		{name: "reserved name, same account", first: ann, again: ann, remote: "ann", wantTakeover: true},
		{name: "random name given, same account", first: ann, again: ann, remote: "<given>", wantTakeover: true},
		{name: "random name given, other account", first: ann, again: bob, remote: "<given>"},
		{name: "label, anonymous same key", first: anonA, again: anonA, remote: "dup", wantTakeover: true},
		{name: "label, anonymous other key", first: anonA, again: anonB, remote: "dup"},
		{name: "random name given, anonymous other key", first: anonA, again: anonB, remote: "<given>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := NewMemory()
			first := tt.remote
			if first == "<given>" {
				first = ""
			}
			name, _, _, err := bindInt(tab, n, tt.first, first, 1)
			if err != nil {
				t.Fatalf("first Bind(%q) error = %v", first, err)
			}
			again := tt.remote
			if again == "<given>" {
				again = strings.TrimSuffix(name, ".localhost") // the label it was given
			}
			got, prev, replaced, err := bindInt(tab, n, tt.again, again, 2)
			if !tt.wantTakeover {
				if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "in use") {
					t.Fatalf("second Bind(%q) by another owner = %q, %v; want refused in use", again, got, err)
				}
				if v, _ := lookupInt(tab, name); v != 1 {
					t.Errorf("%s is bound to %d after a refused claim, want 1", name, v)
				}
				return
			}
			if err != nil || got != name || !replaced || prev != 1 {
				t.Fatalf("second Bind(%q) = %q, %d, %v, %v; want %q taken over from 1", again, got, prev, replaced, err, name)
			}
			if v, _ := lookupInt(tab, name); v != 2 {
				t.Errorf("%s is bound to %d after the takeover, want 2", name, v)
			}
		})
	}
}

// TestRandomNeverTakesOver: a random draw that collides with a name the
// same owner holds draws again instead of replacing that tunnel.
func TestRandomNeverTakesOver(t *testing.T) {
	zero := func() *Namer { return &Namer{Base: "localhost", Rand: &repeatReader{}} }
	tab := NewMemory()
	ann := Claimant{Account: &account.Account{Name: "ann"}}
	name, _, _, err := bindInt(tab, zero(), ann, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	other, _, replaced, err := bindInt(tab, zero(), ann, "", 2)
	if err != nil || replaced || other == name {
		t.Fatalf("second random Bind = %q, replaced %v, %v; want another name (first was %s)", other, replaced, err, name)
	}
	if v, _ := lookupInt(tab, name); v != 1 {
		t.Errorf("%s is bound to %d, want 1", name, v)
	}
}

// repeatReader yields the same bytes for every label until it runs out,
// then different ones: the first draw of a second Namer collides.
type repeatReader struct{ n int }

func (r *repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r.n / 10)
		r.n++
	}
	return len(p), nil
}

func TestStableLabel(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	n := &Namer{Base: "localhost", StableKey: key}
	ann := &account.Account{Name: "ann"}
	c := Claimant{Account: ann, Key: "SHA256:laptop", Stable: 1}
	label := n.StableLabel(c)
	if len(label) != randomLabelLen || label[0] < 'a' || label[0] > 'z' {
		t.Fatalf("StableLabel = %q, want %d characters starting with a letter", label, randomLabelLen)
	}
	if got, err := Normalize(label + ".localhost"); err != nil || got != label+".localhost" {
		t.Fatalf("StableLabel = %q, which does not normalise to itself: %q, %v", label, got, err)
	}
	if again := (&Namer{Base: "elsewhere", StableKey: append([]byte(nil), key...)}).StableLabel(c); again != label {
		t.Errorf("StableLabel with the same key = %q, then %q; want the same label every time", label, again)
	}
	differ := map[string]string{
		"other key":      n.StableLabel(Claimant{Account: ann, Key: "SHA256:server", Stable: 1}),
		"other account":  n.StableLabel(Claimant{Account: &account.Account{Name: "bob"}, Key: "SHA256:laptop", Stable: 1}),
		"other slot":     n.StableLabel(Claimant{Account: ann, Key: "SHA256:laptop", Stable: 2}),
		"other edge":     (&Namer{StableKey: []byte("another edge's secret key, 32 b!")}).StableLabel(c),
		"fields shifted": n.StableLabel(Claimant{Account: &account.Account{Name: "annSHA256:laptop"}, Key: "", Stable: 1}),
	}
	for what, got := range differ {
		if got == label || got == "" {
			t.Errorf("StableLabel for %s = %q, want a label other than %q", what, got, label)
		}
	}
	if got := (&Namer{}).StableLabel(c); got != "" {
		t.Errorf("StableLabel without a key = %q, want \"\"", got)
	}
	if got := n.StableLabel(Claimant{Account: ann, Key: "SHA256:laptop"}); got != "" {
		t.Errorf("StableLabel without a slot = %q, want \"\"", got)
	}

	// Resolve: the stable name for an unnamed forward with a slot, claimed
	// with takeover; a random one without a slot or once reserved.
	res, err := n.Resolve(c, "")
	if err != nil || res.Name != label+".localhost" || !res.Stable || !res.Takeover || res.Random {
		t.Fatalf("Resolve(stable slot, \"\") = %+v, %v; want %s.localhost, stable, with takeover", res, err, label)
	}
	if res, _ := n.Resolve(Claimant{Account: ann, Key: "SHA256:laptop"}, ""); !res.Random || res.Name == label+".localhost" {
		t.Errorf("Resolve(no slot, \"\") = %+v, want a random name", res)
	}
	if res, _ := n.Resolve(c, "named"); res.Name != "named.localhost" {
		t.Errorf("Resolve(stable slot, \"named\") = %+v, want the name asked for", res)
	}
	dir, err := account.NewDirectory("localhost", []account.Spec{{Name: "bob", Keys: []string{keyLine(t)}, Domains: []string{label}}})
	if err != nil {
		t.Fatal(err)
	}
	reserved := &Namer{Base: "localhost", StableKey: key, Accounts: dir}
	if res, err := reserved.Resolve(c, ""); err != nil || !res.Random {
		t.Errorf("Resolve with the stable name reserved by bob = %+v, %v; want a random name", res, err)
	}

	// Bind: a stable name another owner holds (by chance) falls back to
	// a random one rather than failing.
	tab := NewMemory()
	if _, err := tab.Claim(context.Background(), Claim{Name: label + ".localhost", Kind: KindHTTP, Owner: "bob", Member: 9}); err != nil {
		t.Fatal(err)
	}
	name, _, replaced, err := bindInt(tab, n, c, "", 1)
	if err != nil || replaced || name == label+".localhost" || !strings.HasSuffix(name, ".localhost") {
		t.Errorf("Bind(stable name held by bob) = %q, %v, %v; want a random name", name, replaced, err)
	}
}

func TestAsksRandom(t *testing.T) {
	for remote, want := range map[string]bool{
		"": true, "*": true, "localhost": true, "LocalHost": true, "localhost.": true,
		"app": false, "app.localhost": false, "127.0.0.1": false, "::1": false, "a..b": false,
	} {
		if got := AsksRandom(remote); got != want {
			t.Errorf("AsksRandom(%q) = %v, want %v", remote, got, want)
		}
	}
}

func TestLoadNameKey(t *testing.T) {
	dir := t.TempDir()
	key, err := LoadNameKey(dir)
	if err != nil || len(key) != NameKeySize {
		t.Fatalf("LoadNameKey (new) = %d bytes, %v; want %d bytes", len(key), err, NameKeySize)
	}
	path := filepath.Join(dir, NameKeyFile)
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v, mode %v; want 0600", path, err, st.Mode().Perm())
	}
	again, err := LoadNameKey(dir)
	if err != nil || string(again) != string(key) {
		t.Fatalf("LoadNameKey (again) = %x, %v; want the same key %x", again, err, key)
	}
	if err := os.WriteFile(path, []byte("not hex\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadNameKey(dir); err == nil || !strings.Contains(err.Error(), "delete the file") {
		t.Errorf("LoadNameKey (corrupt) error = %v, want one saying what to do", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "not hex\n" {
		t.Errorf("LoadNameKey replaced a corrupt key file; it must leave it for the operator")
	}
}
