package store

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"
)

func openT(t *testing.T, dir string) *Bolt {
	t.Helper()
	b, err := Open(dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func keyLine(t testing.TB) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}

func TestConcurrentKeyAdds(t *testing.T) {
	ctx := context.Background()
	r := &Records{KV: openT(t, t.TempDir()), Base: "localhost"}
	for _, n := range []string{"ann", "bob"} {
		if _, err := r.CreateAccount(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	const n = 50
	lines := make([]string, n)
	for i := range lines {
		lines[i] = keyLine(t)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { _, errs[i] = r.AddKey(ctx, "ann", lines[i], fmt.Sprint("k", i)) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("add %d: %v", i, err)
		}
	}
	if keys, _ := r.Keys(ctx, "ann"); len(keys) != n {
		t.Errorf("ann has %d keys, want %d", len(keys), n)
	}

	// The same key, concurrently, to both accounts: exactly one wins.
	same := keyLine(t)
	wins := make([]error, n)
	for i := range n {
		acct := []string{"ann", "bob"}[i%2]
		wg.Go(func() { _, wins[i] = r.AddKey(ctx, acct, same, "") })
	}
	wg.Wait()
	won := 0
	for _, err := range wins {
		switch {
		case err == nil:
			won++
		case !strings.Contains(err.Error(), "is already a key of"):
			t.Errorf("loser's error %q does not say the key is taken", err)
		}
	}
	if won != 1 {
		t.Errorf("%d adds of one key succeeded, want exactly 1", won)
	}
	all, _ := r.Keys(ctx, "")
	if len(all) != n+1 {
		t.Errorf("%d keys in all, want %d", len(all), n+1)
	}
}

func TestKeyOnAnotherAccountRefused(t *testing.T) {
	ctx := context.Background()
	r := &Records{KV: openT(t, t.TempDir()), Base: "localhost"}
	r.CreateAccount(ctx, "ann")
	r.CreateAccount(ctx, "bob")
	line := keyLine(t)
	k, err := r.AddKey(ctx, "ann", line+" ann@laptop", "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(k.Fingerprint, "SHA256:") || k.Label != "ann@laptop" {
		t.Errorf("key = %+v", k)
	}
	_, err = r.AddKey(ctx, "bob", line, "")
	if err == nil || !strings.Contains(err.Error(), "already a key of another account") {
		t.Errorf("bob adding ann's key: %v", err)
	}
	// After ann is deleted and re-created, her old key is not hers again.
	if err := r.DeleteAccount(ctx, "ann"); err != nil {
		t.Fatal(err)
	}
	r.CreateAccount(ctx, "ann")
	if keys, _ := r.Keys(ctx, "ann"); len(keys) != 0 {
		t.Errorf("re-created ann has keys %v", keys)
	}
	if _, err := r.AddKey(ctx, "bob", line, ""); err != nil {
		t.Errorf("the deleted account's key cannot be added: %v", err)
	}
}

func TestWeakKeysRefused(t *testing.T) {
	ctx := context.Background()
	r := &Records{KV: openT(t, t.TempDir()), Base: "localhost"}
	r.CreateAccount(ctx, "ann")
	rk, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	// An ssh-dss key in its wire form (this ssh package makes none).
	dss := ssh.Marshal(struct {
		Name       string
		P, Q, G, Y *big.Int
	}{"ssh-dss", big.NewInt(23), big.NewInt(11), big.NewInt(4), big.NewInt(8)})
	dssLine := "ssh-dss " + base64.StdEncoding.EncodeToString(dss)
	rsaKey, err := ssh.NewPublicKey(&rk.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		line string
		want string
	}{
		{"rsa1024", string(ssh.MarshalAuthorizedKey(rsaKey)), "RSA key of 1024 bits"},
		{"dsa", dssLine, "key type ssh-dss is not accepted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.AddKey(ctx, "ann", tc.line, "")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
	for _, bad := range []string{"", "hello", "from=\"1.2.3.4\" " + keyLine(t), keyLine(t) + "\n" + keyLine(t)} {
		if _, err := r.AddKey(ctx, "ann", bad, ""); err == nil {
			t.Errorf("AddKey(%q) accepted", bad)
		}
	}
	if keys, _ := r.Keys(ctx, "ann"); len(keys) != 0 {
		t.Errorf("refused keys landed: %v", keys)
	}
}

func TestCompareAndSwapConflict(t *testing.T) {
	ctx := context.Background()
	b := openT(t, t.TempDir())
	rev, err := b.Txn(ctx, Txn{If: []Compare{Absent("x")}, Then: []Op{Put("x", []byte("1"))}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Txn(ctx, Txn{If: []Compare{Absent("x")}, Then: []Op{Put("x", []byte("2"))}}); !errors.Is(err, ErrConflict) {
		t.Errorf("second create: %v, want ErrConflict", err)
	}
	if _, err := b.Txn(ctx, Txn{If: []Compare{Unchanged("x", rev)}, Then: []Op{Put("x", []byte("3"))}}); err != nil {
		t.Errorf("swap at the right revision: %v", err)
	}
	if _, err := b.Txn(ctx, Txn{If: []Compare{Unchanged("x", rev)}, Then: []Op{Put("x", []byte("4")), Put("y", nil)}}); !errors.Is(err, ErrConflict) {
		t.Errorf("swap at a stale revision: %v, want ErrConflict", err)
	}
	kv, _ := b.Get(ctx, "x")
	if string(kv.Value) != "3" || kv.Version != 2 || kv.CreateRevision != rev {
		t.Errorf("x = %+v, want value 3, version 2, created at %d", kv, rev)
	}
	if y, _ := b.Get(ctx, "y"); y != nil {
		t.Errorf("a failed transaction wrote y")
	}
	if _, err := b.Txn(ctx, Txn{If: []Compare{Present("y")}, Then: []Op{Delete("x")}}); !errors.Is(err, ErrConflict) {
		t.Errorf("Present on a missing key: %v", err)
	}
}

func TestWatchSeesEveryChangeInOrder(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := openT(t, t.TempDir())
	b.Txn(ctx, Txn{Then: []Op{Put("other/a", nil)}})
	start, _ := b.Revision(ctx)
	w := b.Watch(ctx, "k/", start+1)
	const n = 200
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range n {
			op := Put(fmt.Sprintf("k/%d", i%7), []byte(fmt.Sprint(i)))
			if i%5 == 4 {
				op = Delete(fmt.Sprintf("k/%d", (i-1)%7))
			}
			if _, err := b.Txn(ctx, Txn{Then: []Op{op, Put("other/b", nil)}}); err != nil {
				t.Error(err)
			}
		}
	})
	last := start
	for seen := 0; seen < n; seen++ {
		select {
		case r, ok := <-w:
			if !ok || r.Err != nil {
				t.Fatalf("watch ended: %v", r.Err)
			}
			if r.Revision != last+1 {
				t.Fatalf("revision %d after %d: a change was skipped or reordered", r.Revision, last)
			}
			last = r.Revision
			if len(r.Events) != 1 || !strings.HasPrefix(r.Events[0].KV.Key, "k/") {
				t.Fatalf("revision %d: events %+v, want one under k/", r.Revision, r.Events)
			}
			i := int(r.Revision - start - 1)
			if e := r.Events[0]; (i%5 == 4) != (e.Type == EventDelete) {
				t.Fatalf("revision %d: event type %v", r.Revision, e.Type)
			}
		case <-ctx.Done():
			t.Fatalf("watch saw %d of %d changes", seen, n)
		}
	}
	wg.Wait()
}

func TestReopenKeepsEverything(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	r := &Records{KV: b, Base: "localhost"}
	r.CreateAccount(ctx, "ann")
	k, _ := r.AddKey(ctx, "ann", keyLine(t), "laptop")
	r.ReserveDomain(ctx, "ann", "app")
	r.ReserveTCP(ctx, "ann", "tcp.localhost:20022")
	code, _, _ := r.CreateInvite(ctx, "ann", time.Hour)
	secret, _, _ := r.CreateToken(ctx, "", "ops")
	rev, _ := b.Revision(ctx)
	b.Close()

	b2 := openT(t, dir)
	r.KV = b2
	if got, _ := b2.Revision(ctx); got != rev {
		t.Errorf("revision %d after reopen, want %d", got, rev)
	}
	if keys, _ := r.Keys(ctx, "ann"); len(keys) != 1 || keys[0].ID != k.ID || keys[0].Label != "laptop" {
		t.Errorf("keys after reopen: %+v", keys)
	}
	if d, _ := r.Reservations(ctx, DomainsPrefix, "ann"); len(d) != 1 || d[0].Name != "app.localhost" {
		t.Errorf("domains after reopen: %+v", d)
	}
	if d, _ := r.Reservations(ctx, TCPPrefix, "ann"); len(d) != 1 || d[0].Name != "tcp.localhost:20022" {
		t.Errorf("tcp after reopen: %+v", d)
	}
	if tok, ok, _ := r.Token(ctx, secret); !ok || tok.Label != "ops" {
		t.Errorf("token after reopen: %+v %v", tok, ok)
	}
	if inv, err := r.RedeemInvite(ctx, code); err != nil || inv.Account != "ann" {
		t.Errorf("invite after reopen: %+v %v", inv, err)
	}
	if _, err := r.RedeemInvite(ctx, code); err == nil {
		t.Errorf("an invite was used twice")
	}
	data, _ := os.ReadFile(filepath.Join(dir, FileName))
	for _, secretText := range []string{code, secret} {
		if strings.Contains(string(data), secretText) {
			t.Errorf("the store file holds a secret in clear")
		}
	}
}

func TestSecondOpenIsRefused(t *testing.T) {
	dir := t.TempDir()
	openT(t, dir)
	_, err := Open(dir)
	if err == nil || !strings.Contains(err.Error(), "locked by another edge") || !strings.Contains(err.Error(), filepath.Join(dir, FileName)) {
		t.Errorf("second open: %v, want a locked-by-another-edge error naming the file", err)
	}
}

func TestDamagedFileStopsOpen(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(path string, size int64) error
	}{
		{"empty", func(p string, _ int64) error { return os.Truncate(p, 0) }},
		{"truncated-to-one-page", func(p string, _ int64) error { return os.Truncate(p, 4096) }},
		{"truncated-half", func(p string, size int64) error { return os.Truncate(p, size/2) }},
		{"garbage", func(p string, size int64) error {
			junk := make([]byte, size)
			rand.Read(junk)
			return os.WriteFile(p, junk, 0o600)
		}},
		{"not-a-store", func(p string, _ int64) error { return os.WriteFile(p, []byte("accounts:\n- name: ann\n"), 0o600) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			b, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			r := &Records{KV: b, Base: "localhost"}
			for i := range 40 {
				r.CreateAccount(context.Background(), fmt.Sprint("acct", i))
				r.ReserveDomain(context.Background(), fmt.Sprint("acct", i), strings.Repeat("x", 50)+fmt.Sprint(i))
			}
			b.Close()
			path := filepath.Join(dir, FileName)
			fi, _ := os.Stat(path)
			if err := tc.damage(path, fi.Size()); err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadFile(path)
			b, err = Open(dir)
			if err == nil {
				b.Close()
				t.Fatalf("a damaged store file opened")
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
			t.Logf("error: %v", err)
			if after, _ := os.ReadFile(path); string(after) != string(before) {
				t.Errorf("the damaged file was changed")
			}
		})
	}
}

// RegisterKey uses an invite and adds the key in one transaction: a key
// that cannot be added leaves the invite usable; of concurrent uses of
// one code exactly one adds its key.
func TestRegisterKeyIsOneTransaction(t *testing.T) {
	ctx := context.Background()
	r := &Records{KV: openT(t, t.TempDir()), Base: "localhost"}
	r.CreateAccount(ctx, "ann")
	r.CreateAccount(ctx, "bob")
	taken := keyLine(t)
	if _, err := r.AddKey(ctx, "bob", taken, ""); err != nil {
		t.Fatal(err)
	}
	code, _, err := r.CreateInvite(ctx, "ann", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.RegisterKey(ctx, code, taken, ""); err == nil || !strings.Contains(err.Error(), "another account") {
		t.Fatalf("registering bob's key with ann's invite: %v", err)
	}
	if _, _, err := r.RegisterKey(ctx, code, "ssh-ed25519 AAAA", ""); err == nil {
		t.Fatal("a malformed key was registered")
	}
	const n = 8
	lines := make([]string, n)
	for i := range lines {
		lines[i] = keyLine(t)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, errs[i] = r.RegisterKey(ctx, code, lines[i], "")
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !strings.Contains(err.Error(), "invite code is not valid"):
			t.Errorf("a losing register: %v, want the invalid-invite sentence", err)
		}
	}
	if keys, _ := r.Keys(ctx, "ann"); won != 1 || len(keys) != 1 {
		t.Errorf("%d registers won and ann has %d keys; want 1 and 1", won, len(keys))
	}
}
