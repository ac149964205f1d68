package sshserver

import (
	"net/netip"
	"sync"
	"testing"
	"time"
)

func TestGateCapsAndPenalties(t *testing.T) {
	now := time.Unix(1000, 0)
	g := newGate(Limits{UnauthPerSource: 2, UnauthTotal: 3, FailuresBeforePenalty: 3, PenaltyWindow: time.Minute})
	g.now = func() time.Time { return now }
	a, b, c := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.3")

	steps := []struct {
		name string
		ip   netip.Addr
		want bool
	}{
		{"a first", a, true},
		{"a second", a, true},
		{"a third over per-source cap", a, false},
		{"b first", b, true},
		{"c over the total cap", c, false},
	}
	for _, s := range steps {
		if ok, why := g.admit(s.ip); ok != s.want {
			t.Fatalf("%s: admit = %v (%s), want %v", s.name, ok, why, s.want)
		}
	}
	g.done(a, false)
	g.done(a, false)
	g.done(b, false)
	// Three failures from c within the window put it in the penalty box.
	for range 3 {
		if ok, _ := g.admit(c); !ok {
			t.Fatal("c refused before its failures")
		}
		g.done(c, true)
	}
	if ok, why := g.admit(c); ok || why == "" {
		t.Fatalf("c admitted right after 3 failures")
	}
	if ok, _ := g.admit(a); !ok {
		t.Fatal("a refused because of c's failures")
	}
	g.done(a, false)
	now = now.Add(61 * time.Second)
	if ok, _ := g.admit(c); !ok {
		t.Fatal("c still refused after its penalty")
	}
	g.done(c, false)
	if len(g.sources) != 0 || g.total != 0 {
		t.Errorf("gate keeps %d sources, total %d; want none", len(g.sources), g.total)
	}
}

func TestCounterConcurrent(t *testing.T) {
	c := &counter{max: 10}
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := 0
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c.acquire() {
				mu.Lock()
				got++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if got != 10 {
		t.Fatalf("%d acquired, want 10", got)
	}
}

func TestAccountTunnels(t *testing.T) {
	var a accountTunnels
	for i := range 3 {
		if !a.add("ann", 1, 3) {
			t.Fatalf("tunnel %d refused", i)
		}
	}
	if a.add("ann", 1, 3) {
		t.Fatal("fourth tunnel accepted over a limit of 3")
	}
	if !a.add("bob", 1, 3) {
		t.Fatal("bob refused because of ann")
	}
	a.add("ann", -1, 3)
	if !a.add("ann", 1, 3) {
		t.Fatal("slot not given back")
	}
}

// TestGateWrongCodes: wrong invite codes put a source in the penalty box
// after WrongCodesBeforePenalty within the window, apart from the count of
// failed logins; codes spread over windows do not.
func TestGateWrongCodes(t *testing.T) {
	now := time.Unix(1000, 0)
	lim := Limits{PenaltyWindow: time.Minute, WrongCodesBeforePenalty: 3}
	lim.setDefaults()
	g := newGate(lim)
	g.now = func() time.Time { return now }
	a := netip.MustParseAddr("192.0.2.1")
	for i := range 2 {
		g.wrongCode(a)
		if ok, why := g.admit(a); !ok {
			t.Fatalf("refused after %d wrong codes: %s", i+1, why)
		}
		g.done(a, false)
	}
	now = now.Add(61 * time.Second) // a new window
	for range 2 {
		g.wrongCode(a)
	}
	if ok, _ := g.admit(a); !ok {
		t.Fatal("codes of two windows were added up")
	}
	g.done(a, false)
	g.wrongCode(a)
	if ok, why := g.admit(a); ok || why == "" {
		t.Fatal("admitted after 3 wrong codes in one window")
	}
	now = now.Add(61 * time.Second)
	if ok, _ := g.admit(a); !ok {
		t.Fatal("still refused after the penalty")
	}
	g.done(a, false)
	if len(g.sources) != 0 {
		t.Errorf("the gate keeps %d sources after everything ended", len(g.sources))
	}
}
