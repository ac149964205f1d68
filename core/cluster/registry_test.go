package cluster

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sshgress/sshgress/core/route"
	"github.com/sshgress/sshgress/core/usererr"
)

// Every watch, keepalive and maintenance goroutine ends with Close.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// tun is a tunnel's member in these tests, as the edges pass a pointer.
type tun struct{ id string }

func claim(ctx context.Context, r route.Registry, name, owner string, m *tun, change func(*route.Claim)) ([]route.Entry, error) {
	c := route.Claim{Name: name, Kind: route.KindHTTP, Owner: owner, Tunnel: m.id, Member: m}
	if change != nil {
		change(&c)
	}
	return r.Claim(ctx, c)
}

func wantUserError(t *testing.T, err error, cause error, msg string) {
	t.Helper()
	if !errors.Is(err, cause) || !usererr.Is(err) || err.Error() != msg {
		t.Fatalf("err = %v; want a user error wrapping %v reading %q", err, cause, msg)
	}
}

// TestClaimAcrossNodes: a name claimed on one node is seen on another as a
// Remote within 1 s, refused there to other owners and other kinds, and
// free there within 1 s of its release — held for its owner only.
func TestClaimAcrossNodes(t *testing.T) {
	e := startEtcd(t)
	prefix := testPrefix(t)
	a := newNode(t, e, prefix, "a", nil)
	b := newNode(t, e, prefix, "b", nil)
	ctx := context.Background()
	const name = "app.localhost"
	ma := &tun{"t1"}
	if prev, err := claim(ctx, a, name, "ann", ma, nil); err != nil || prev != nil {
		t.Fatalf("claim on a: prev %v, err %v", prev, err)
	}
	if m, ok := a.Lookup(name, route.KindHTTP); !ok || m != ma {
		t.Fatalf("a.Lookup right after the claim = %v, %v; want the local member", m, ok)
	}
	want := Remote{Node: "a", Tunnel: "t1"}
	if d, ok := eventually(time.Second, func() bool { m, _ := b.Lookup(name, route.KindHTTP); return m == want }); !ok {
		m, _ := b.Lookup(name, route.KindHTTP)
		t.Fatalf("b.Lookup = %v after %v; want %v within 1 s", m, d, want)
	}
	if m, ok := b.Lookup(name, route.KindTLS); ok {
		t.Errorf("b.Lookup(tls) = %v; want not found (held by http)", m)
	}
	if allocs := testing.AllocsPerRun(100, func() { b.Members(name, route.KindHTTP) }); allocs != 0 {
		t.Errorf("Members allocates %v times; want 0", allocs)
	}

	mb := &tun{"t2"}
	refusals := []struct {
		test, owner string
		change      func(*route.Claim)
		msg         string
	}{
		{"other owner", "bob", nil, name + " is in use by another tunnel"},
		{"other owner with takeover", "bob", func(c *route.Claim) { c.Takeover = true }, name + " is in use by another tunnel"},
		{"same owner without takeover", "ann", nil, name + " is in use by another tunnel"},
		{"same owner, other kind", "ann", func(c *route.Claim) { c.Kind, c.Takeover = route.KindTLS, true }, name + " is in use by an http tunnel; pick another name"},
	}
	for _, tt := range refusals {
		t.Run(tt.test, func(t *testing.T) {
			_, err := claim(ctx, b, name, tt.owner, mb, tt.change)
			wantUserError(t, err, route.ErrInUse, tt.msg)
		})
	}
	if got := b.ByOwner("ann"); len(got) != 1 || got[0].Name != name || got[0].Tunnel != "t1" || got[0].Member != want {
		t.Errorf("b.ByOwner(ann) = %+v; want the one name, member %v", got, want)
	}

	// tcp addresses live in the same directory.
	mt := &tun{"t3"}
	if _, err := claim(ctx, b, "0.0.0.0:7000", "bob", mt, func(c *route.Claim) { c.Kind = route.KindTCP }); err != nil {
		t.Fatalf("claim tcp on b: %v", err)
	}
	if _, ok := eventually(time.Second, func() bool {
		m, _ := a.Lookup("0.0.0.0:7000", route.KindTCP)
		return m == Remote{Node: "b", Tunnel: "t3"}
	}); !ok {
		t.Error("a does not see b's tcp address within 1 s")
	}

	if a.Release(name, mb) {
		t.Error("a.Release of a member that never held the name = true")
	}
	if !a.Release(name, ma) {
		t.Fatal("a.Release of the holder = false")
	}
	if a.Release(name, ma) {
		t.Error("a second Release = true")
	}
	if d, ok := eventually(time.Second, func() bool { _, held := b.Lookup(name, route.KindHTTP); return !held }); !ok {
		t.Fatalf("b still sees %s %v after its release", name, d)
	}
	// The hold: another owner is refused for a while, the owner is not.
	_, err := claim(ctx, b, name, "bob", mb, nil)
	wantUserError(t, err, route.ErrInUse, name+" is in use by another tunnel")
	if _, err := claim(ctx, b, name, "ann", mb, nil); err != nil {
		t.Fatalf("the owner claiming its released name again on b: %v", err)
	}
	if m, ok := b.Lookup(name, route.KindHTTP); !ok || m != mb {
		t.Errorf("b.Lookup = %v, %v; want b's member", m, ok)
	}
}

// TestClaimRace: two nodes, two owners, one free name claimed at once, 100
// rounds: exactly one wins each round and the other gets ErrInUse.
func TestClaimRace(t *testing.T) {
	e := startEtcd(t)
	prefix := testPrefix(t)
	nodes := []*testNode{newNode(t, e, prefix, "a", nil), newNode(t, e, prefix, "b", nil)}
	owners := []string{"ann", "bob"}
	ctx := context.Background()
	for round := range 100 {
		name := "race-" + string(rune('a'+round%26)) + "-" + time.Now().Format("150405.000000") + ".localhost"
		var wg sync.WaitGroup
		errs := make([]error, 2)
		start := make(chan struct{})
		for i := range 2 {
			wg.Go(func() {
				<-start
				_, errs[i] = claim(ctx, nodes[i], name, owners[i], &tun{owners[i]}, nil)
			})
		}
		close(start)
		wg.Wait()
		won := 0
		for i, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, route.ErrInUse):
				t.Fatalf("round %d: %s's claim failed with %v; want nil or ErrInUse", round, owners[i], err)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d claims won (errors %v); want exactly 1", round, won, errs)
		}
	}
}

// TestTakeoverAcrossNodes: the same owner claims a name on a second node
// with Takeover: the later wins, gets the earlier member back, and the
// earlier node's OnTakenOver is told.
func TestTakeoverAcrossNodes(t *testing.T) {
	e := startEtcd(t)
	prefix := testPrefix(t)
	a := newNode(t, e, prefix, "a", nil)
	b := newNode(t, e, prefix, "b", nil)
	ctx := context.Background()
	const name = "mine.localhost"
	ma, mb := &tun{"t1"}, &tun{"t2"}
	if _, err := claim(ctx, a, name, "ann", ma, nil); err != nil {
		t.Fatal(err)
	}
	prev, err := claim(ctx, b, name, "ann", mb, func(c *route.Claim) { c.Takeover = true })
	if err != nil {
		t.Fatalf("takeover on b: %v", err)
	}
	wantPrev := []route.Entry{{Name: name, Kind: route.KindHTTP, Owner: "ann", Tunnel: "t1", Member: Remote{Node: "a", Tunnel: "t1"}}}
	if !slices.Equal(prev, wantPrev) {
		t.Errorf("takeover returned %+v; want %+v", prev, wantPrev)
	}
	select {
	case <-a.takenNow:
	case <-time.After(time.Second):
		t.Fatal("a's OnTakenOver not called within 1 s")
	}
	a.mu.Lock()
	taken := a.taken
	a.mu.Unlock()
	wantTaken := []route.Entry{{Name: name, Kind: route.KindHTTP, Owner: "ann", Tunnel: "t1", Member: ma}}
	if !slices.Equal(taken, wantTaken) {
		t.Errorf("a's OnTakenOver got %+v; want %+v", taken, wantTaken)
	}
	if m, _ := a.Lookup(name, route.KindHTTP); m != (Remote{Node: "b", Tunnel: "t2"}) {
		t.Errorf("a.Lookup after the takeover = %v; want b's member", m)
	}
	if a.Release(name, ma) {
		t.Error("the stale member's Release = true; want false (it no longer holds the name)")
	}
	time.Sleep(200 * time.Millisecond)
	if m, _ := b.Lookup(name, route.KindHTTP); m != mb {
		t.Errorf("b.Lookup = %v after the stale release; want b's member", m)
	}
	if n := len(b.taken); n != 0 {
		t.Errorf("b's OnTakenOver called %d times; want none", n)
	}
}

// TestNodeDeath: a node killed without revoking its lease frees its names
// within TTL + 1 s for their owner; another owner stays refused (the hold).
func TestNodeDeath(t *testing.T) {
	e := startEtcd(t)
	prefix := testPrefix(t)
	const ttl = 2 * time.Second
	a := newNode(t, e, prefix, "a", func(c *Config) { c.LeaseTTL = ttl })
	b := newNode(t, e, prefix, "b", nil)
	ctx := context.Background()
	if _, err := claim(ctx, a, "one.localhost", "ann", &tun{"t1"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := claim(ctx, a, "two.localhost", "carl", &tun{"t2"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := eventually(time.Second, func() bool { _, ok := b.Lookup("two.localhost", route.KindHTTP); return ok }); !ok {
		t.Fatal("b does not see a's names")
	}
	a.abandon()
	killed := time.Now()
	mb := &tun{"t3"}
	var err error
	d, ok := eventually(ttl+time.Second, func() bool {
		_, err = claim(ctx, b, "one.localhost", "ann", mb, nil)
		return err == nil
	})
	if !ok {
		t.Fatalf("the owner could not claim the dead node's name on b within TTL + 1 s (%v): %v", d, err)
	}
	t.Logf("claimable %v after the kill", time.Since(killed).Round(10*time.Millisecond))
	if _, ok := eventually(time.Second, func() bool { _, held := b.Lookup("two.localhost", route.KindHTTP); return !held }); !ok {
		t.Fatal("b still sees the dead node's second name")
	}
	_, err = claim(ctx, b, "two.localhost", "dave", &tun{"t4"}, nil)
	wantUserError(t, err, route.ErrInUse, "two.localhost is in use by another tunnel")
	if _, err := claim(ctx, b, "two.localhost", "carl", &tun{"t5"}, nil); err != nil {
		t.Fatalf("the owner claiming its held name on b: %v", err)
	}
}

// TestEtcdOutage: with etcd killed, lookups answer from memory and claims
// fail within 3 s with the user message; with etcd back on its data, the
// names are still held and claims work again.
func TestEtcdOutage(t *testing.T) {
	e := startEtcd(t)
	prefix := testPrefix(t)
	// a's lease is shorter than the outage, so its keepalive channel closes
	// and the lease must be re-attached (or replaced and its name written
	// again).
	a := newNode(t, e, prefix, "a", func(c *Config) { c.LeaseTTL = 2 * time.Second })
	b := newNode(t, e, prefix, "b", nil)
	ctx := context.Background()
	ma := &tun{"t1"}
	if _, err := claim(ctx, a, "kept.localhost", "ann", ma, nil); err != nil {
		t.Fatal(err)
	}
	wantRemote := Remote{Node: "a", Tunnel: "t1"}
	if _, ok := eventually(time.Second, func() bool { m, _ := b.Lookup("kept.localhost", route.KindHTTP); return m == wantRemote }); !ok {
		t.Fatal("b does not see a's name")
	}
	e.kill()
	down := time.Now()
	if m, _ := a.Lookup("kept.localhost", route.KindHTTP); m != ma {
		t.Errorf("a.Lookup with etcd down = %v; want the local member", m)
	}
	if m, _ := b.Lookup("kept.localhost", route.KindHTTP); m != wantRemote {
		t.Errorf("b.Lookup with etcd down = %v; want %v", m, wantRemote)
	}
	start := time.Now()
	_, err := claim(ctx, b, "new.localhost", "bob", &tun{"t2"}, nil)
	if took := time.Since(start); took > 3*time.Second+300*time.Millisecond {
		t.Errorf("the claim took %v to fail; want within 3 s", took)
	}
	wantUserError(t, err, ErrUnavailable, "cluster coordination is unavailable; try again shortly")
	time.Sleep(3*time.Second - time.Since(down)) // down longer than a's TTL
	e.start()
	var d time.Duration
	var ok bool
	if d, ok = eventually(10*time.Second, func() bool {
		_, err = claim(ctx, b, "new.localhost", "bob", &tun{"t2"}, nil)
		return err == nil
	}); !ok {
		t.Fatalf("claims still fail 10 s after etcd is back: %v", err)
	}
	t.Logf("claims work %v after etcd restarted", d.Round(10*time.Millisecond))
	// Past a's TTL again: its name must have been re-attached for good.
	time.Sleep(2500 * time.Millisecond)
	_, err = claim(ctx, b, "kept.localhost", "bob", &tun{"t3"}, nil)
	wantUserError(t, err, route.ErrInUse, "kept.localhost is in use by another tunnel")
	if m, _ := a.Lookup("kept.localhost", route.KindHTTP); m != ma {
		t.Errorf("a.Lookup after the outage = %v; want the local member", m)
	}
	if m, _ := b.Lookup("kept.localhost", route.KindHTTP); m != wantRemote {
		t.Errorf("b.Lookup after the outage = %v; want %v", m, wantRemote)
	}
	if m, _ := a.Lookup("new.localhost", route.KindHTTP); m == nil {
		t.Error("a does not see the name claimed after the outage")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.lost) != 0 || len(a.taken) != 0 {
		t.Errorf("a reported lost %v, taken %v; want none", a.lost, a.taken)
	}
}

// TestPoolAcrossNodes: members of one owner and terms on two nodes form
// one pool; Members returns both, oldest first, on each node.
func TestPoolAcrossNodes(t *testing.T) {
	e := startEtcd(t)
	prefix := testPrefix(t)
	a := newNode(t, e, prefix, "a", nil)
	b := newNode(t, e, prefix, "b", nil)
	ctx := context.Background()
	const name = "pool.localhost"
	pool := func(terms string) func(*route.Claim) {
		return func(c *route.Claim) { c.Pool, c.PoolTerms = true, terms }
	}
	ma, mb := &tun{"t1"}, &tun{"t2"}
	if _, err := claim(ctx, a, name, "ann", ma, pool("T")); err != nil {
		t.Fatal(err)
	}
	if _, err := claim(ctx, b, name, "ann", mb, pool("T")); err != nil {
		t.Fatalf("joining the pool on b: %v", err)
	}
	ra, rb := Remote{Node: "a", Tunnel: "t1"}, Remote{Node: "b", Tunnel: "t2"}
	for _, tt := range []struct {
		node *testNode
		want []route.Member
	}{{a, []route.Member{ma, rb}}, {b, []route.Member{ra, mb}}} {
		if _, ok := eventually(time.Second, func() bool { return slices.Equal(tt.node.Members(name, route.KindHTTP), tt.want) }); !ok {
			t.Errorf("%s.Members = %v; want %v", tt.node.Node(), tt.node.Members(name, route.KindHTTP), tt.want)
		}
	}
	_, err := claim(ctx, b, name, "ann", &tun{"t3"}, pool("U"))
	wantUserError(t, err, route.ErrPoolMismatch, "the tunnels of a pool must be opened with the same flags, and "+name+" is pooled with other flags; use the same flags as the pool's other tunnels, or pick another name")
	_, err = claim(ctx, b, name, "ann", &tun{"t4"}, nil)
	wantUserError(t, err, route.ErrPoolMismatch, name+" is served by a pool of your tunnels (--pooling-enabled); add --pooling-enabled to join the pool, or pick another name")
	if !a.Release(name, ma) {
		t.Fatal("a.Release = false")
	}
	if _, ok := eventually(time.Second, func() bool { return slices.Equal(b.Members(name, route.KindHTTP), []route.Member{mb}) }); !ok {
		t.Errorf("b.Members after a's release = %v; want b's member only", b.Members(name, route.KindHTTP))
	}
}

// TestConfig: required fields and bounds are checked before any
// connection, each error naming the field.
func TestConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no endpoints", Config{Node: "a"}, "cluster: config: etcd_endpoints: at least one endpoint is required"},
		{"no node", Config{Endpoints: []string{"x"}}, `cluster: config: node "" must be 1 to 63 bytes`},
		{"bad node", Config{Endpoints: []string{"x"}, Node: "A/b"}, `cluster: config: node "A/b" may hold only lowercase letters, digits, '-' and '.'`},
		{"bad prefix", Config{Endpoints: []string{"x"}, Node: "a", Prefix: "x"}, `cluster: config: prefix "x" must start and end with '/'`},
		{"short ttl", Config{Endpoints: []string{"x"}, Node: "a", LeaseTTL: time.Second}, "cluster: config: lease TTL 1s is below the minimum 2s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(context.Background(), tt.cfg)
			if err == nil || err.Error() != tt.want {
				t.Errorf("New: %v; want %q", err, tt.want)
			}
		})
	}
	c, err := Config{Endpoints: []string{"x"}, Node: "a"}.withDefaults()
	if err != nil || c.Prefix != DefaultPrefix || c.LeaseTTL != DefaultLeaseTTL || c.Hold != DefaultHold || c.RequestTimeout != DefaultRequestTimeout || c.MaxKeys != DefaultMaxKeys {
		t.Errorf("defaults = %+v, %v", c, err)
	}
}

// FuzzDecodeRecord: a stored value from etcd never panics the decoder,
// and an accepted one is within the bounds.
func FuzzDecodeRecord(f *testing.F) {
	f.Add([]byte(record{V: 1, Node: "a", Tunnel: "t", Owner: "ann", Kind: "http", Pool: true, Terms: "x"}.encode()))
	f.Add([]byte(`{"v":1,"node":"A","kind":"http"}`))
	f.Add([]byte(`{"v":2}`))
	f.Add([]byte(holdValue("ann")))
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, kind, err := decodeRecord(b)
		if err == nil && (kind == 0 || validNode(rec.Node) != nil || len(rec.Owner) > maxOwnerLen) {
			t.Fatalf("accepted %q as %+v", b, rec)
		}
		decodeHold(b)
	})
}
