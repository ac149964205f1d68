package tcpedge

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/account"
	"github.com/sshgress/sshgress/core/route"
	"github.com/sshgress/sshgress/core/tunnel"
	"github.com/sshgress/sshgress/sdk"
)

// recordingForward is a forward that is never dialled and records the
// names its connection was told were taken over.
type recordingForward struct {
	mu    sync.Mutex
	taken []string
}

func (*recordingForward) Dial(context.Context, netip.AddrPort) (tunnel.Conn, error) {
	return nil, errors.New("recordingForward: not dialled in this test")
}
func (*recordingForward) SetPublicPort(uint32)   {}
func (*recordingForward) Stats() *tunnel.Stats   { return nil }
func (*recordingForward) ClientAddr() netip.Addr { return netip.Addr{} }
func (f *recordingForward) TakenOver(name string) {
	f.mu.Lock()
	f.taken = append(f.taken, name)
	f.mu.Unlock()
}
func (f *recordingForward) takenOver() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.taken...)
}

type quietConsole struct{}

func (quietConsole) Line(string)                                            {}
func (quietConsole) Request(string, string, int, time.Duration, netip.Addr) {}

// TestReservedAddressInSharedRegistry: a tcp endpoint claims its port in
// the edge's one name registry, under the address it listens on; a host
// name held by an http tunnel never collides with it; another account is
// refused; the same account's newer tunnel takes it over (the older one's
// connection is told, and its listener closed), and ByOwner lists it with
// the newer tunnel's ID; closing the stale endpoint leaves the claim.
func TestReservedAddressInSharedRegistry(t *testing.T) {
	p := freePort(t)
	addr := "localhost:" + strconv.Itoa(p)
	dir, err := account.NewDirectory("localhost", []account.Spec{
		{Name: "ann", Keys: []string{keyLine(t)}, TCPAddresses: []string{addr}},
		{Name: "bob", Keys: []string{keyLine(t)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	names := route.NewMemory()
	ctx := context.Background()
	// An http tunnel holding the host name of the reserved address.
	if _, err := names.Claim(ctx, route.Claim{Name: "localhost", Kind: route.KindHTTP, Owner: "bob", Member: "http"}); err != nil {
		t.Fatal(err)
	}
	e := New(Options{ListenHost: "127.0.0.1", Accounts: dir, Names: names})
	defer e.Close()
	publish := func(id string, acct *account.Account, f tunnel.Dialer) (tunnel.Endpoint, error) {
		return e.Publish(ctx, &tunnel.BindRequest{TunnelID: id, Owner: ownerOf(acct), Command: "tcp", RemotePort: uint32(p), Forward: f, Console: quietConsole{}},
			sdk.Binding{Kind: sdk.KindTCP, Host: "localhost", Port: uint32(p)})
	}
	key := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))

	oldFwd := &recordingForward{}
	old, err := publish("t1", dir.ByName("ann"), oldFwd)
	if err != nil {
		t.Fatalf("ann's reserved address beside an http name: %v", err)
	}
	if m, ok := names.Lookup(key, route.KindTCP); !ok || m != old {
		t.Fatalf("Lookup(%s, tcp) = %v, %v; want ann's endpoint", key, m, ok)
	}
	if _, err := names.Claim(ctx, route.Claim{Name: key, Kind: route.KindTCP, Owner: "bob", Takeover: true, Member: "rival"}); !errors.Is(err, route.ErrInUse) {
		t.Errorf("another owner's claim of %s: err %v, want ErrInUse", key, err)
	}

	newFwd := &recordingForward{}
	cur, err := publish("t2", dir.ByName("ann"), newFwd)
	if err != nil {
		t.Fatalf("ann's newer tunnel on her address: %v", err)
	}
	defer cur.Close()
	if got := oldFwd.takenOver(); len(got) != 1 || got[0] != addr {
		t.Errorf("the older tunnel's connection was told %q, want [%s]", got, addr)
	}
	if got := newFwd.takenOver(); len(got) != 0 {
		t.Errorf("the newer tunnel's connection was told %q, want nothing", got)
	}
	old.Close() // the stale endpoint closing again must not free the port
	entries := names.ByOwner("ann")
	if len(entries) != 1 || entries[0].Name != key || entries[0].Kind != route.KindTCP || entries[0].Tunnel != "t2" || entries[0].Member != cur {
		t.Fatalf("ByOwner(ann) = %+v, want %s held by tunnel t2", entries, key)
	}
	if m, ok := names.Lookup("localhost", route.KindHTTP); !ok || m != "http" {
		t.Errorf("the http name was disturbed: %v, %v", m, ok)
	}
	if got := e.Len(); got != 1 {
		t.Errorf("Len() = %d, want 1", got)
	}
	cur.Close()
	if _, ok := names.Lookup(key, route.KindTCP); ok {
		t.Errorf("%s still claimed after its endpoint closed", key)
	}
}
