package httpedge

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/account"
	"github.com/sshgress/sshgress/core/certs"
	"github.com/sshgress/sshgress/core/route"
	"github.com/sshgress/sshgress/core/tlsedge"
	"github.com/sshgress/sshgress/core/tunnel"
	"github.com/sshgress/sshgress/sdk"
)

// idleForward is a forward whose local service is never dialled: the
// tests here only claim names.
type idleForward struct{}

func (idleForward) Dial(context.Context, netip.AddrPort) (tunnel.Conn, error) {
	return nil, errors.New("idleForward: not dialled in this test")
}
func (idleForward) SetPublicPort(uint32)                                   {}
func (idleForward) Stats() *tunnel.Stats                                   { return nil }
func (idleForward) ClientAddr() netip.Addr                                 { return netip.Addr{} }
func (idleForward) TakenOver(string)                                       {}
func (idleForward) Line(string)                                            {}
func (idleForward) Request(string, string, int, time.Duration, netip.Addr) {}

// TestOneRegistryHTTPAndTLSRace: an http tunnel and a tls tunnel asking
// for the same name at the same moment, through the http edge and the TLS
// port sharing one registry (as core.New wires them) — exactly one gets
// it, the other is told it is in use, and the winner serves it. With two
// route tables, each asking the other "taken?" outside the other's lock,
// both could win and the TLS port would route the name two ways.
func TestOneRegistryHTTPAndTLSRace(t *testing.T) {
	names := route.NewMemory()
	dir, err := account.NewDirectory("localhost", nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := certs.New(certs.Options{CADir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	h := New(Options{BaseDomain: "localhost", Accounts: dir, HTTPSPort: 443, Names: names})
	tl := tlsedge.New(tlsedge.Options{BaseDomain: "localhost", Accounts: dir, Certs: m, HTTP: h, Names: names})
	defer tl.Close()
	owner := func(who string) tunnel.Owner { return tunnel.Owner{Account: who} }
	const rounds = 200
	for i := range rounds {
		label := "dup" + strconv.Itoa(i)
		name := label + ".localhost"
		start := make(chan struct{})
		var wg sync.WaitGroup
		var httpEP, tlsEP tunnel.Endpoint
		var httpErr, tlsErr error
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-start
			httpEP, httpErr = h.Bind(context.Background(), &tunnel.BindRequest{
				TunnelID: "h" + label, Owner: owner("ann"), Command: "http",
				RemoteName: label, RemotePort: 443, Forward: idleForward{}, Console: idleForward{},
			})
		}()
		go func() {
			defer wg.Done()
			<-start
			tlsEP, tlsErr = tl.Publish(context.Background(), &tunnel.BindRequest{
				TunnelID: "t" + label, Owner: owner("bob"), Command: "tls",
				RemotePort: 443, Forward: idleForward{}, Console: idleForward{},
			}, sdk.Binding{Kind: sdk.KindTLS, SNIName: label})
		}()
		close(start)
		wg.Wait()
		if (httpErr == nil) == (tlsErr == nil) {
			t.Fatalf("round %d: http bind error %v, tls publish error %v; want exactly one to get %s", i, httpErr, tlsErr, name)
		}
		loser := httpErr
		if loser == nil {
			loser = tlsErr
		}
		if !errors.Is(loser, route.ErrInUse) {
			t.Fatalf("round %d: the losing claim's error = %v, want one wrapping route.ErrInUse", i, loser)
		}
		httpServes, tlsServes := h.Serves(name), tl.Serves(name)
		if httpServes == tlsServes {
			t.Fatalf("round %d: http edge serves %s %v, tls port passes it through %v; want exactly one", i, name, httpServes, tlsServes)
		}
		for _, ep := range []tunnel.Endpoint{httpEP, tlsEP} {
			if ep != nil {
				ep.Close()
			}
		}
		if h.Serves(name) || tl.Serves(name) {
			t.Fatalf("round %d: %s still served after its endpoint closed", i, name)
		}
	}
	if got := len(names.ByOwner("ann")) + len(names.ByOwner("bob")); got != 0 {
		t.Errorf("%d names left in the registry after every endpoint closed, want 0", got)
	}
}
