package route

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/sshgress/sshgress/core/account"
	"github.com/sshgress/sshgress/core/usererr"
)

// TestMemoryPool: pooled claims of one owner share a name; every other
// claim is refused with the sentence that says why; the name stays until
// the last member leaves.
func TestMemoryPool(t *testing.T) {
	ctx := context.Background()
	const name = "app.localhost"
	pool := func(owner string, m int) Claim {
		return Claim{Name: name, Kind: KindHTTP, Owner: owner, Pool: true, PoolTerms: "t", Tunnel: "t" + string(rune('0'+m)), Member: m}
	}
	r := NewMemory()
	for m := 1; m <= 3; m++ {
		prev, err := r.Claim(ctx, pool("ann", m))
		if err != nil || prev != nil {
			t.Fatalf("pooled claim %d = %v, %v; want it to join with nothing replaced", m, prev, err)
		}
	}
	if got := r.Members(name, KindHTTP); !slices.Equal(got, []Member{1, 2, 3}) {
		t.Fatalf("Members = %v, want [1 2 3]", got)
	}
	if got := r.Members(name, KindTLS); got != nil {
		t.Errorf("Members for another kind = %v, want none", got)
	}
	if got, _ := r.Lookup(name, KindHTTP); got != 1 {
		t.Errorf("Lookup = %v, want the oldest member 1", got)
	}
	if got := len(r.ByOwner("ann")); got != 3 {
		t.Errorf("ByOwner lists %d entries, want every member (3)", got)
	}
	if got := r.Len(KindHTTP); got != 1 {
		t.Errorf("Len = %d, want the pool counted once", got)
	}

	refusals := []struct {
		what  string
		claim Claim
		cause error
		says  string
	}{
		{"another account", pool("bob", 9), ErrInUse, "is in use by another tunnel"},
		{"another account with takeover", Claim{Name: name, Kind: KindHTTP, Owner: "bob", Takeover: true, Member: 9}, ErrInUse, "in use by another tunnel"},
		{"another kind", Claim{Name: name, Kind: KindTLS, Owner: "ann", Pool: true, PoolTerms: "t", Member: 9}, ErrInUse, "in use by an http tunnel"},
		{"no flag, with takeover", Claim{Name: name, Kind: KindHTTP, Owner: "ann", Takeover: true, Member: 9}, ErrPoolMismatch, "add --pooling-enabled to join the pool"},
		{"other flags", Claim{Name: name, Kind: KindHTTP, Owner: "ann", Pool: true, PoolTerms: "other", Member: 9}, ErrPoolMismatch, "same flags"},
	}
	for _, tc := range refusals {
		_, err := r.Claim(ctx, tc.claim)
		if !errors.Is(err, tc.cause) || !usererr.Is(err) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: Claim error = %v, want a user error wrapping %v saying %q", tc.what, err, tc.cause, tc.says)
		}
	}
	if got := r.Members(name, KindHTTP); !slices.Equal(got, []Member{1, 2, 3}) {
		t.Fatalf("after refusals Members = %v, want [1 2 3]", got)
	}

	held := r.Members(name, KindHTTP)
	if !r.Release(name, 2) {
		t.Fatalf("Release(2) = false, want true")
	}
	if !slices.Equal(held, []Member{1, 2, 3}) {
		t.Errorf("a slice Members returned changed to %v after a release; it must stay as handed out", held)
	}
	if r.Release(name, 2) {
		t.Errorf("second Release(2) = true, want false")
	}
	if got := r.Members(name, KindHTTP); !slices.Equal(got, []Member{1, 3}) {
		t.Errorf("after releasing 2 Members = %v, want [1 3]", got)
	}
	r.Release(name, 1)
	if got, ok := r.Lookup(name, KindHTTP); !ok || got != 3 {
		t.Errorf("after releasing 1 Lookup = %v, %v; want 3 still holding the name", got, ok)
	}
	r.Release(name, 3)
	if _, ok := r.Lookup(name, KindHTTP); ok {
		t.Errorf("the last member left but the name is still bound")
	}
	if _, err := r.Claim(ctx, Claim{Name: name, Kind: KindHTTP, Owner: "bob", Member: 9}); err != nil {
		t.Errorf("claim of the released name = %v, want it free", err)
	}
}

// TestMemoryPoolJoinUnpooled: a pooled claim for a name the owner holds
// without the flag is refused (no takeover, no mixing), and the holder
// keeps it.
func TestMemoryPoolJoinUnpooled(t *testing.T) {
	ctx := context.Background()
	r := NewMemory()
	if _, err := r.Claim(ctx, Claim{Name: "10.0.0.1:5432", Kind: KindTCP, Owner: "ann", Takeover: true, Member: 1}); err != nil {
		t.Fatal(err)
	}
	_, err := r.Claim(ctx, Claim{Name: "10.0.0.1:5432", Kind: KindTCP, Owner: "ann", Takeover: true, Pool: true, Member: 2})
	if !errors.Is(err, ErrPoolMismatch) || !strings.Contains(err.Error(), "opened without --pooling-enabled") {
		t.Errorf("pooled claim of an unpooled name error = %v, want ErrPoolMismatch saying the holder has no --pooling-enabled", err)
	}
	if got := r.Members("10.0.0.1:5432", KindTCP); !slices.Equal(got, []Member{1}) {
		t.Errorf("Members = %v, want the holder alone", got)
	}
}

// TestMemoryPoolFull: a pool takes at most MaxPoolMembers members.
func TestMemoryPoolFull(t *testing.T) {
	ctx := context.Background()
	r := NewMemory()
	for m := range MaxPoolMembers {
		if _, err := r.Claim(ctx, Claim{Name: "a.localhost", Kind: KindHTTP, Owner: "ann", Pool: true, Member: m}); err != nil {
			t.Fatalf("member %d: %v", m, err)
		}
	}
	_, err := r.Claim(ctx, Claim{Name: "a.localhost", Kind: KindHTTP, Owner: "ann", Pool: true, Member: -1})
	if !errors.Is(err, ErrPoolMismatch) || !strings.Contains(err.Error(), "the most a pool may have") {
		t.Errorf("claim past MaxPoolMembers error = %v, want a refusal naming the limit", err)
	}
}

// TestMembersAllocs: Members, on every request's path, does not allocate.
func TestMembersAllocs(t *testing.T) {
	r := NewMemory()
	for m := range 3 {
		if _, err := r.Claim(context.Background(), Claim{Name: "a.localhost", Kind: KindHTTP, Owner: "ann", Pool: true, Member: m}); err != nil {
			t.Fatal(err)
		}
	}
	if allocs := testing.AllocsPerRun(100, func() { r.Members("a.localhost", KindHTTP) }); allocs != 0 {
		t.Errorf("Members allocates %v times, want 0", allocs)
	}
}

// TestPoolTerms: the digest depends on every flag value and on nothing
// else, and does not contain the values.
func TestPoolTerms(t *testing.T) {
	a := map[string]map[string][]string{"basicauth": {"basic-auth": {"ann:secret"}}}
	b := map[string]map[string][]string{"basicauth": {"basic-auth": {"ann:other"}}}
	if PoolTerms(a) != PoolTerms(map[string]map[string][]string{"basicauth": {"basic-auth": {"ann:secret"}}}) {
		t.Errorf("PoolTerms differs for equal values")
	}
	for what, other := range map[string]string{
		"another password": PoolTerms(b),
		"no flags":         PoolTerms(nil),
		"an extra fact":    PoolTerms(a, "https"),
	} {
		if other == PoolTerms(a) {
			t.Errorf("PoolTerms equal with %s, want different", what)
		}
	}
	if strings.Contains(PoolTerms(a), "secret") {
		t.Errorf("PoolTerms contains the flag value")
	}
}

// TestLeastLoaded: the least loaded member wins; ties go round in turn;
// skipped members and members of another type are never picked.
func TestLeastLoaded(t *testing.T) {
	load := map[int]int64{1: 0, 2: 0, 3: 0}
	skip := map[int]bool{}
	f := func(m int) (int64, bool) { return load[m], !skip[m] }
	ms := []Member{1, 2, 3}
	got := map[int]int{}
	for turn := range uint32(30) {
		m, ok := LeastLoaded(ms, turn, f)
		if !ok {
			t.Fatalf("turn %d: nothing picked", turn)
		}
		got[m]++
	}
	if got[1] != 10 || got[2] != 10 || got[3] != 10 {
		t.Errorf("ties over 30 turns: %v, want 10 each", got)
	}
	load[1], load[2], load[3] = 5, 1, 3
	for turn := range uint32(3) {
		if m, _ := LeastLoaded(ms, turn, f); m != 2 {
			t.Errorf("turn %d picked %d, want 2, the least loaded", turn, m)
		}
	}
	skip[2] = true
	if m, _ := LeastLoaded(ms, 0, f); m != 3 {
		t.Errorf("with 2 skipped picked %d, want 3", m)
	}
	skip[1], skip[3] = true, true
	if m, ok := LeastLoaded(ms, 0, f); ok {
		t.Errorf("with every member skipped picked %d, want none", m)
	}
	if m, ok := LeastLoaded([]Member{"x"}, 0, f); ok {
		t.Errorf("picked %d from members of another type, want none", m)
	}
}

// TestBindPool: through Bind, a reserved name is pooled by the account
// that reserved it only, and on the anonymous account the key is the
// owner: the same key joins, another key is refused.
func TestBindPool(t *testing.T) {
	ann := Claimant{Account: &account.Account{Name: "ann", Domains: []string{"app.example.org"}}}
	bob := Claimant{Account: &account.Account{Name: "bob"}}
	dir, err := account.NewDirectory("localhost", []account.Spec{{Name: "ann", Keys: []string{keyLine(t)}, Domains: []string{"app.example.org"}}, {Name: "bob", Keys: []string{keyLine(t)}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	n := &Namer{Base: "localhost", Accounts: dir}
	r := NewMemory()
	pooled := func(v int) Claim { return Claim{Kind: KindHTTP, Pool: true, Member: v} }
	for v := 1; v <= 2; v++ {
		if name, prev, err := Bind(ctx, r, n, ann, "app.example.org", pooled(v), nil); err != nil || name != "app.example.org" || prev != nil {
			t.Fatalf("ann's pooled bind %d of her reserved name = %q, %v, %v; want it joined", v, name, prev, err)
		}
	}
	if _, _, err := Bind(ctx, r, n, bob, "app.example.org", pooled(3), nil); err == nil || !strings.Contains(err.Error(), "not reserved by your account") {
		t.Errorf("bob's pooled bind of ann's reserved name: %v, want refused as not reserved", err)
	}
	if got := r.Members("app.example.org", KindHTTP); len(got) != 2 {
		t.Errorf("members %v, want ann's two", got)
	}

	anon := func(key string) Claimant { return Claimant{Account: account.Anonymous(), Key: key} }
	for v := 4; v <= 5; v++ {
		if _, _, err := Bind(ctx, r, n, anon("SHA256:a"), "shared", pooled(v), nil); err != nil {
			t.Fatalf("anonymous key a, pooled bind %d: %v", v, err)
		}
	}
	if _, _, err := Bind(ctx, r, n, anon("SHA256:b"), "shared", pooled(6), nil); !errors.Is(err, ErrInUse) {
		t.Errorf("anonymous key b joining key a's pool: %v, want ErrInUse", err)
	}
	if got := r.Members("shared.localhost", KindHTTP); len(got) != 2 {
		t.Errorf("members %v, want key a's two", got)
	}
}
