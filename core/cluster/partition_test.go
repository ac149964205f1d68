package cluster

import (
	"context"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/route"
)

// cutProxy is a TCP proxy to etcd that a test can cut, to partition one
// node from etcd while the others still reach it.
type cutProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target}
	p.wg.Go(p.serve)
	t.Cleanup(func() {
		ln.Close()
		p.setCut(true)
		p.wg.Wait()
	})
	return p
}

func (p *cutProxy) url() string { return "http://" + p.ln.Addr().String() }

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			c.Close()
			continue
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		p.wg.Go(func() { io.Copy(u, c); u.Close() })
		p.wg.Go(func() { io.Copy(c, u); c.Close() })
	}
}

// setCut cuts (closing every connection) or restores the proxy.
func (p *cutProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

// TestLeaseLost: a node cut off from etcd past its TTL loses its lease;
// back in touch, it writes its names again under a new lease where they
// are still free, and reports through OnLost the one another tunnel
// claimed meanwhile. Its lookups serve from memory while cut off.
func TestLeaseLost(t *testing.T) {
	e := startEtcd(t)
	prefix := testPrefix(t)
	proxy := newCutProxy(t, e.clientURL[len("http://"):])
	const ttl = 2 * time.Second
	a := newNode(t, e, prefix, "a", func(c *Config) { c.Endpoints, c.LeaseTTL = []string{proxy.url()}, ttl })
	b := newNode(t, e, prefix, "b", nil)
	ctx := context.Background()
	m1, m2 := &tun{"t1"}, &tun{"t2"}
	if _, err := claim(ctx, a, "free.localhost", "ann", m1, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := claim(ctx, a, "taken.localhost", "carl", m2, nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := eventually(time.Second, func() bool { _, ok := b.Lookup("taken.localhost", route.KindHTTP); return ok }); !ok {
		t.Fatal("b does not see a's names")
	}
	proxy.setCut(true)
	// a's lease expires in etcd: both names vanish for b.
	if _, ok := eventually(ttl+2*time.Second, func() bool {
		_, ok1 := b.Lookup("free.localhost", route.KindHTTP)
		_, ok2 := b.Lookup("taken.localhost", route.KindHTTP)
		return !ok1 && !ok2
	}); !ok {
		t.Fatal("a's names outlived its lease")
	}
	if m, _ := a.Lookup("taken.localhost", route.KindHTTP); m != m2 {
		t.Errorf("a.Lookup while cut off = %v; want its member (served from memory)", m)
	}
	mb := &tun{"t3"}
	if _, err := claim(ctx, b, "taken.localhost", "carl", mb, nil); err != nil {
		t.Fatalf("the owner claiming the name on b: %v", err)
	}
	proxy.setCut(false)
	wantLost := []route.Entry{{Name: "taken.localhost", Kind: route.KindHTTP, Owner: "carl", Tunnel: "t2", Member: m2}}
	if _, ok := eventually(5*time.Second, func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return slices.Equal(a.lost, wantLost)
	}); !ok {
		a.mu.Lock()
		t.Fatalf("a's OnLost got %+v; want %+v", a.lost, wantLost)
	}
	if _, ok := eventually(2*time.Second, func() bool {
		m, _ := b.Lookup("free.localhost", route.KindHTTP)
		return m == Remote{Node: "a", Tunnel: "t1"}
	}); !ok {
		t.Fatal("a's free name was not written again under its new lease")
	}
	if m, _ := a.Lookup("taken.localhost", route.KindHTTP); m != (Remote{Node: "b", Tunnel: "t3"}) {
		t.Errorf("a.Lookup of the lost name = %v; want b's member", m)
	}
	if a.Release("taken.localhost", m2) {
		t.Error("Release of the lost member = true")
	}
	// The written-again name lives on the new lease: past another TTL it
	// is still held.
	time.Sleep(ttl + 500*time.Millisecond)
	if m, _ := b.Lookup("free.localhost", route.KindHTTP); m != (Remote{Node: "a", Tunnel: "t1"}) {
		t.Errorf("b.Lookup past a TTL = %v; want a's member", m)
	}
}
