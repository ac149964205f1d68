package route

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/sshgress/sshgress/core/account"
	"github.com/sshgress/sshgress/core/usererr"
)

// bindInt binds an int member as an http claim and returns the replaced
// member, for tests written against single-valued takeovers.
func bindInt(r *Memory, n *Namer, c Claimant, remote string, v int) (name string, prev int, replaced bool, err error) {
	name, entries, err := Bind(context.Background(), r, n, c, remote, Claim{Kind: KindHTTP, Member: v}, nil)
	if len(entries) > 0 {
		prev, replaced = entries[0].Member.(int), true
	}
	return name, prev, replaced, err
}

// lookupInt returns the int member of an http name.
func lookupInt(r *Memory, name string) (int, bool) {
	m, ok := r.Lookup(name, KindHTTP)
	v, _ := m.(int)
	return v, ok
}

func TestMemory(t *testing.T) {
	type step struct {
		op           string // "claim", "release"
		name, owner  string
		kind         Kind // KindHTTP when 0
		takeover     bool
		v            int
		wantPrev     int
		wantReplaced bool
		wantInUse    string // the error's text, if refused
		wantReleased bool
	}
	tests := []struct {
		name  string
		steps []step
		want  map[string]int // expected bindings afterwards
	}{
		{
			name:  "claim free",
			steps: []step{{op: "claim", name: "a.localhost", owner: "ann", v: 1}},
			want:  map[string]int{"a.localhost": 1},
		},
		{
			name: "other owner is in use even with takeover",
			steps: []step{
				{op: "claim", name: "a.localhost", owner: "ann", v: 1},
				{op: "claim", name: "a.localhost", owner: "bob", takeover: true, v: 2, wantInUse: "a.localhost is in use by another tunnel"},
			},
			want: map[string]int{"a.localhost": 1},
		},
		{
			name: "same owner without takeover is in use",
			steps: []step{
				{op: "claim", name: "a.localhost", owner: "ann", v: 1},
				{op: "claim", name: "a.localhost", owner: "ann", v: 2, wantInUse: "a.localhost is in use by another tunnel"},
			},
			want: map[string]int{"a.localhost": 1},
		},
		{
			name: "same owner takeover replaces",
			steps: []step{
				{op: "claim", name: "a.localhost", owner: "ann", v: 1},
				{op: "claim", name: "a.localhost", owner: "ann", takeover: true, v: 2, wantPrev: 1, wantReplaced: true},
				{op: "release", name: "a.localhost", v: 1, wantReleased: false}, // the stale tunnel closing
			},
			want: map[string]int{"a.localhost": 2},
		},
		{
			name: "release then claim by another",
			steps: []step{
				{op: "claim", name: "a.localhost", owner: "ann", v: 1},
				{op: "release", name: "a.localhost", v: 1, wantReleased: true},
				{op: "release", name: "a.localhost", v: 1, wantReleased: false},
				{op: "claim", name: "a.localhost", owner: "bob", v: 2},
			},
			want: map[string]int{"a.localhost": 2},
		},
		{
			name: "names are independent",
			steps: []step{
				{op: "claim", name: "a.localhost", owner: "ann", v: 1},
				{op: "claim", name: "tcp.localhost:2200", owner: "bob", kind: KindTCP, v: 2},
			},
			want: map[string]int{"a.localhost": 1},
		},
		{
			name: "a tls tunnel's name is in use for http, even for its owner with takeover",
			steps: []step{
				{op: "claim", name: "a.localhost", owner: "ann", kind: KindTLS, v: 1},
				{op: "claim", name: "a.localhost", owner: "ann", takeover: true, v: 2, wantInUse: "a.localhost is in use by a tls tunnel; pick another name"},
			},
		},
		{
			name: "an http tunnel's name is in use for tls",
			steps: []step{
				{op: "claim", name: "a.localhost", owner: "ann", v: 1},
				{op: "claim", name: "a.localhost", owner: "bob", kind: KindTLS, v: 2, wantInUse: "a.localhost is in use by an http tunnel; pick another name"},
			},
			want: map[string]int{"a.localhost": 1},
		},
		{
			name: "a tcp address never collides with a host name",
			steps: []step{
				{op: "claim", name: "a.localhost", owner: "ann", v: 1},
				{op: "claim", name: "a.localhost:443", owner: "bob", kind: KindTCP, v: 2},
				{op: "claim", name: ":443", owner: "bob", kind: KindTCP, v: 3},
			},
			want: map[string]int{"a.localhost": 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewMemory()
			for i, s := range tt.steps {
				kind := s.kind
				if kind == 0 {
					kind = KindHTTP
				}
				switch s.op {
				case "claim":
					prev, err := r.Claim(context.Background(), Claim{Name: s.name, Kind: kind, Owner: s.owner, Takeover: s.takeover, Member: s.v})
					if s.wantInUse != "" {
						if !errors.Is(err, ErrInUse) || !usererr.Is(err) {
							t.Fatalf("step %d: Claim error = %v, want a user error wrapping ErrInUse", i, err)
						}
						if got := err.Error(); got != s.wantInUse {
							t.Errorf("step %d: Claim error = %q, want %q", i, got, s.wantInUse)
						}
						continue
					}
					if err != nil {
						t.Fatalf("step %d: Claim error = %v, want nil", i, err)
					}
					gotPrev, replaced := 0, len(prev) > 0
					if replaced {
						gotPrev = prev[0].Member.(int)
					}
					if len(prev) > 1 || gotPrev != s.wantPrev || replaced != s.wantReplaced {
						t.Errorf("step %d: Claim = %v; want %d replaced %v", i, prev, s.wantPrev, s.wantReplaced)
					}
				case "release":
					if got := r.Release(s.name, s.v); got != s.wantReleased {
						t.Errorf("step %d: Release(%q, %d) = %v, want %v", i, s.name, s.v, got, s.wantReleased)
					}
				}
			}
			if got, want := r.Len(KindHTTP), len(tt.want); got != want {
				t.Errorf("Len(http) = %d, want %d", got, want)
			}
			for name, want := range tt.want {
				if got, ok := lookupInt(r, name); !ok || got != want {
					t.Errorf("Lookup(%q, http) = %d, %v; want %d, true", name, got, ok, want)
				}
			}
		})
	}
}

// TestMemoryLookupIsByKind: a name held by one kind is not found as another.
func TestMemoryLookupIsByKind(t *testing.T) {
	r := NewMemory()
	if _, err := r.Claim(context.Background(), Claim{Name: "a.localhost", Kind: KindTLS, Owner: "ann", Member: 1}); err != nil {
		t.Fatal(err)
	}
	if m, ok := r.Lookup("a.localhost", KindHTTP); ok {
		t.Errorf("Lookup(tls name, http) = %v, true; want not found", m)
	}
	if m, ok := r.Lookup("a.localhost", KindTLS); !ok || m != 1 {
		t.Errorf("Lookup(tls name, tls) = %v, %v; want 1, true", m, ok)
	}
}

func TestMemoryZeroValueAndBadClaims(t *testing.T) {
	var r Memory
	if _, ok := r.Lookup("a", KindHTTP); ok {
		t.Errorf("Lookup on a zero Memory found a binding, want none")
	}
	if r.Release("a", "x") {
		t.Errorf("Release on a zero Memory = true, want false")
	}
	if _, err := r.Claim(context.Background(), Claim{Name: "a", Kind: KindHTTP, Owner: "ann", Member: "x"}); err != nil {
		t.Fatalf("Claim on a zero Memory error = %v, want nil", err)
	}
	for name, c := range map[string]Claim{
		"empty name":          {Kind: KindHTTP, Owner: "ann", Member: "x"},
		"no kind":             {Name: "b", Owner: "ann", Member: "x"},
		"nil member":          {Name: "b", Kind: KindHTTP, Owner: "ann"},
		"uncomparable member": {Name: "b", Kind: KindHTTP, Owner: "ann", Member: []int{1}},
	} {
		if _, err := r.Claim(context.Background(), c); err == nil {
			t.Errorf("Claim(%s) error = nil, want an error", name)
		}
	}
	if _, ok := r.Lookup("b", KindHTTP); ok {
		t.Errorf("a refused claim bound its name")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Claim(ctx, Claim{Name: "c", Kind: KindHTTP, Owner: "ann", Member: "x"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Claim with a cancelled context error = %v, want context.Canceled", err)
	}
}

// TestMemoryReleaseOnlyIfMember: a stale member closing after a takeover
// does not unbind the name from its successor; neither does a member of
// another name.
func TestMemoryReleaseOnlyIfMember(t *testing.T) {
	r := NewMemory()
	ctx := context.Background()
	old, cur := new(int), new(int)
	if _, err := r.Claim(ctx, Claim{Name: "a.localhost", Kind: KindHTTP, Owner: "ann", Member: old}); err != nil {
		t.Fatal(err)
	}
	prev, err := r.Claim(ctx, Claim{Name: "a.localhost", Kind: KindHTTP, Owner: "ann", Takeover: true, Member: cur})
	if err != nil || len(prev) != 1 || prev[0].Member != old || prev[0].Owner != "ann" || prev[0].Kind != KindHTTP {
		t.Fatalf("takeover Claim = %+v, %v; want the old member replaced", prev, err)
	}
	if r.Release("a.localhost", old) {
		t.Errorf("Release by the replaced member = true, want false")
	}
	if r.Release("b.localhost", cur) {
		t.Errorf("Release of a name the member does not hold = true, want false")
	}
	if m, ok := r.Lookup("a.localhost", KindHTTP); !ok || m != cur {
		t.Errorf("Lookup after the stale release = %v, %v; want the current member", m, ok)
	}
	if !r.Release("a.localhost", cur) {
		t.Errorf("Release by the current member = false, want true")
	}
	if _, ok := r.Lookup("a.localhost", KindHTTP); ok {
		t.Errorf("name still bound after its member released it")
	}
}

// TestMemoryByOwner lists every name of one owner, of every kind, sorted,
// with its tunnel, and nothing of another owner.
func TestMemoryByOwner(t *testing.T) {
	r := NewMemory()
	ctx := context.Background()
	for _, c := range []Claim{
		{Name: "b.localhost", Kind: KindHTTP, Owner: "ann", Tunnel: "t1", Member: 1},
		{Name: "a.localhost", Kind: KindTLS, Owner: "ann", Tunnel: "t2", Member: 2},
		{Name: ":20002", Kind: KindTCP, Owner: "ann", Tunnel: "t3", Member: 3},
		{Name: "c.localhost", Kind: KindHTTP, Owner: "bob", Tunnel: "t4", Member: 4},
	} {
		if _, err := r.Claim(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, e := range r.ByOwner("ann") {
		got = append(got, e.Name+" "+e.Kind.String()+" "+e.Tunnel+" "+strconv.Itoa(e.Member.(int)))
	}
	if want := []string{":20002 tcp t3 3", "a.localhost tls t2 2", "b.localhost http t1 1"}; strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("ByOwner(ann) = %q, want %q", got, want)
	}
	if got := r.ByOwner("carol"); len(got) != 0 {
		t.Errorf("ByOwner(carol) = %v, want none", got)
	}
	r.Release("b.localhost", 1)
	if got := len(r.ByOwner("ann")); got != 2 {
		t.Errorf("ByOwner(ann) after a release lists %d names, want 2", got)
	}
}

// TestMemoryConcurrentKinds: an http and a tls claim of one free name at
// the same moment — exactly one wins, and the name is bound to it. With
// two route tables, each asking the other whether a name was taken
// outside the other's lock, both could win.
func TestMemoryConcurrentKinds(t *testing.T) {
	r := NewMemory()
	const rounds = 500
	for i := range rounds {
		name := "n" + strconv.Itoa(i) + ".localhost"
		start := make(chan struct{})
		var wg sync.WaitGroup
		var won [2]bool
		for k, kind := range []Kind{KindHTTP, KindTLS} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, err := r.Claim(context.Background(), Claim{Name: name, Kind: kind, Owner: "ann", Takeover: true, Member: k + 1})
				if err != nil && !errors.Is(err, ErrInUse) {
					t.Errorf("Claim(%s, %s) error = %v, want nil or ErrInUse", name, kind, err)
				}
				won[k] = err == nil
			}()
		}
		close(start)
		wg.Wait()
		if won[0] == won[1] {
			t.Fatalf("round %d: http won %v, tls won %v; want exactly one", i, won[0], won[1])
		}
		winner := KindHTTP
		if won[1] {
			winner = KindTLS
		}
		if _, ok := r.Lookup(name, winner); !ok {
			t.Fatalf("round %d: %s is not bound to the winner (%s)", i, name, winner)
		}
	}
}

// TestMemoryConcurrent: claims, releases and lookups of many names at once
// (run with -race).
func TestMemoryConcurrent(t *testing.T) {
	r := NewMemory()
	const workers, rounds = 4, 200
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(2)
		go func() { // claim and release its own names
			defer wg.Done()
			for i := range rounds {
				name := strconv.Itoa(w) + ".localhost"
				if _, err := r.Claim(context.Background(), Claim{Name: name, Kind: KindHTTP, Owner: "ann", Takeover: true, Member: i}); err != nil {
					t.Errorf("Claim error = %v", err)
					return
				}
				r.Release(name, i)
			}
		}()
		go func() { // look names up meanwhile
			defer wg.Done()
			for range rounds {
				r.Lookup(strconv.Itoa(w)+".localhost", KindHTTP)
				r.ByOwner("ann")
				r.Len(KindHTTP)
			}
		}()
	}
	wg.Wait()
	if got := r.Len(KindHTTP); got != 0 {
		t.Errorf("Len() after all releases = %d, want 0", got)
	}
}

func TestLookupAllocs(t *testing.T) {
	r := NewMemory()
	v := new(int)
	if _, err := r.Claim(context.Background(), Claim{Name: "a.localhost", Kind: KindHTTP, Owner: "ann", Member: v}); err != nil {
		t.Fatal(err)
	}
	if allocs := testing.AllocsPerRun(100, func() { r.Lookup("a.localhost", KindHTTP) }); allocs != 0 {
		t.Errorf("Lookup allocates %v times, want 0", allocs)
	}
}

func BenchmarkLookup(b *testing.B) {
	r := NewMemory()
	for i := range 1000 {
		if _, err := r.Claim(context.Background(), Claim{Name: strconv.Itoa(i) + ".tunnel.example.com", Kind: KindHTTP, Owner: "ann", Member: new(int)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok := r.Lookup("500.tunnel.example.com", KindHTTP); !ok {
				b.Fatal("not found")
			}
		}
	})
}

func BenchmarkNormalizeFastPath(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Normalize("k3v9xq2m.tunnel.example.com:443"); err != nil {
			b.Fatal(err)
		}
	}
}

func TestBind(t *testing.T) {
	dir, err := account.NewDirectory("localhost", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	n := &Namer{Base: "localhost", Accounts: dir}
	r := NewMemory()
	ann := Claimant{Account: &account.Account{Name: "ann"}}
	bob := Claimant{Account: &account.Account{Name: "bob"}}
	if _, err := r.Claim(ctx, Claim{Name: "busy.localhost", Kind: KindTLS, Owner: ann.Owner(), Member: 0}); err != nil {
		t.Fatal(err)
	}
	system := func(name string) error {
		if name == "auth.localhost" {
			return usererr.New("auth.localhost is used by the edge itself; pick another name")
		}
		return nil
	}
	http := func(v int) Claim { return Claim{Kind: KindHTTP, Member: v} }
	if name, _, err := Bind(ctx, r, n, ann, "app", http(1), system); err != nil || name != "app.localhost" {
		t.Fatalf("Bind(app) = %q, %v", name, err)
	}
	if _, _, err := Bind(ctx, r, n, bob, "app", http(2), system); !errors.Is(err, ErrInUse) {
		t.Fatalf("another account's claim: err %v, want ErrInUse", err)
	}
	if _, _, err := Bind(ctx, r, n, ann, "busy", http(3), system); err == nil || !strings.Contains(err.Error(), "tls tunnel") {
		t.Fatalf("a name another kind holds: err %v", err)
	}
	if _, _, err := Bind(ctx, r, n, ann, "auth", http(5), system); err == nil || !strings.Contains(err.Error(), "edge itself") {
		t.Fatalf("a name the edge serves: err %v", err)
	}
	name, _, err := Bind(ctx, r, n, bob, "", http(4), system)
	if err != nil || !strings.HasSuffix(name, ".localhost") {
		t.Fatalf("random: %q, %v", name, err)
	}
	if got, _ := lookupInt(r, name); got != 4 {
		t.Fatalf("random name bound to %d, want 4", got)
	}
}
