package route

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/sshgress/sshgress/core/account"
	"github.com/sshgress/sshgress/core/usererr"
)

func TestTable(t *testing.T) {
	type step struct {
		op           string // "claim", "release"
		name, owner  string
		takeover     bool
		v            int
		wantPrev     int
		wantReplaced bool
		wantInUse    bool
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
				{op: "claim", name: "a.localhost", owner: "bob", takeover: true, v: 2, wantInUse: true},
			},
			want: map[string]int{"a.localhost": 1},
		},
		{
			name: "same owner without takeover is in use",
			steps: []step{
				{op: "claim", name: "a.localhost", owner: "ann", v: 1},
				{op: "claim", name: "a.localhost", owner: "ann", v: 2, wantInUse: true},
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
				{op: "claim", name: "tcp.localhost:2200", owner: "bob", v: 2},
			},
			want: map[string]int{"a.localhost": 1, "tcp.localhost:2200": 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := NewTable[int]()
			for i, s := range tt.steps {
				switch s.op {
				case "claim":
					prev, replaced, err := tab.Claim(s.name, s.owner, s.takeover, s.v)
					if s.wantInUse {
						if !errors.Is(err, ErrInUse) || !usererr.Is(err) {
							t.Fatalf("step %d: Claim error = %v, want a user error wrapping ErrInUse", i, err)
						}
						if got, want := err.Error(), s.name+" is in use by another tunnel"; got != want {
							t.Errorf("step %d: Claim error = %q, want %q", i, got, want)
						}
						continue
					}
					if err != nil {
						t.Fatalf("step %d: Claim error = %v, want nil", i, err)
					}
					if prev != s.wantPrev || replaced != s.wantReplaced {
						t.Errorf("step %d: Claim = %d, %v; want %d, %v", i, prev, replaced, s.wantPrev, s.wantReplaced)
					}
				case "release":
					if got := tab.Release(s.name, s.v); got != s.wantReleased {
						t.Errorf("step %d: Release(%q, %d) = %v, want %v", i, s.name, s.v, got, s.wantReleased)
					}
				}
			}
			if got, want := tab.Len(), len(tt.want); got != want {
				t.Errorf("Len() = %d, want %d", got, want)
			}
			for name, want := range tt.want {
				if got, ok := tab.Lookup(name); !ok || got != want {
					t.Errorf("Lookup(%q) = %d, %v; want %d, true", name, got, ok, want)
				}
			}
		})
	}
}

func TestTableZeroValueAndEmptyName(t *testing.T) {
	var tab Table[string]
	if _, ok := tab.Lookup("a"); ok {
		t.Errorf("Lookup on a zero Table found a binding, want none")
	}
	if tab.Release("a", "x") {
		t.Errorf("Release on a zero Table = true, want false")
	}
	if _, _, err := tab.Claim("a", "ann", false, "x"); err != nil {
		t.Fatalf("Claim on a zero Table error = %v, want nil", err)
	}
	if _, _, err := tab.Claim("", "ann", false, "x"); err == nil {
		t.Errorf("Claim(\"\") error = nil, want an error")
	}
}

func TestTableConcurrent(t *testing.T) {
	tab := NewTable[int]()
	const workers, rounds = 4, 200
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(2)
		go func() { // claim and release its own names
			defer wg.Done()
			for i := range rounds {
				name := strconv.Itoa(w) + ".localhost"
				if _, _, err := tab.Claim(name, "ann", true, i); err != nil {
					t.Errorf("Claim error = %v", err)
					return
				}
				tab.Release(name, i)
			}
		}()
		go func() { // look names up meanwhile
			defer wg.Done()
			for range rounds {
				tab.Lookup(strconv.Itoa(w) + ".localhost")
				tab.Len()
			}
		}()
	}
	wg.Wait()
	if got := tab.Len(); got != 0 {
		t.Errorf("Len() after all releases = %d, want 0", got)
	}
}

func TestLookupAllocs(t *testing.T) {
	tab := NewTable[*int]()
	v := new(int)
	if _, _, err := tab.Claim("a.localhost", "ann", false, v); err != nil {
		t.Fatal(err)
	}
	if allocs := testing.AllocsPerRun(100, func() { tab.Lookup("a.localhost") }); allocs != 0 {
		t.Errorf("Lookup allocates %v times, want 0", allocs)
	}
}

func BenchmarkLookup(b *testing.B) {
	tab := NewTable[*int]()
	for i := range 1000 {
		if _, _, err := tab.Claim(strconv.Itoa(i)+".tunnel.example.com", "ann", false, new(int)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok := tab.Lookup("500.tunnel.example.com"); !ok {
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
	n := &Namer{Base: "localhost", Accounts: dir}
	tab := NewTable[int]()
	ann := Claimant{Account: &account.Account{Name: "ann"}}
	bob := Claimant{Account: &account.Account{Name: "bob"}}
	taken := func(name string) error {
		if name == "busy.localhost" {
			return usererr.New("busy.localhost is in use by a tls tunnel")
		}
		return nil
	}
	if name, _, _, err := Bind(tab, n, ann, "app", 1, taken); err != nil || name != "app.localhost" {
		t.Fatalf("Bind(app) = %q, %v", name, err)
	}
	if _, _, _, err := Bind(tab, n, bob, "app", 2, taken); !errors.Is(err, ErrInUse) {
		t.Fatalf("another account's claim: err %v, want ErrInUse", err)
	}
	if _, _, _, err := Bind(tab, n, ann, "busy", 3, taken); err == nil || !strings.Contains(err.Error(), "tls tunnel") {
		t.Fatalf("a name another kind holds: err %v", err)
	}
	name, _, _, err := Bind(tab, n, bob, "", 4, taken)
	if err != nil || !strings.HasSuffix(name, ".localhost") {
		t.Fatalf("random: %q, %v", name, err)
	}
	if got, _ := tab.Lookup(name); got != 4 {
		t.Fatalf("random name bound to %d, want 4", got)
	}
}
