package tlsedge

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/account"
	"github.com/sshgress/sshgress/core/certs"
	"github.com/sshgress/sshgress/core/route"
	"github.com/sshgress/sshgress/core/tunnel"
	"github.com/sshgress/sshgress/sdk"
)

// authHost is an edge whose only own name is auth.localhost.
type authHost struct{ noNames }

func (authHost) IsSystemHost(name string) bool { return name == "auth.localhost" }

// idleForward is a forward that is never dialled.
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

// TestPublishNames: a tls tunnel gets its SNI name in the shared registry;
// a name an http tunnel holds there is in use, and a name the edge serves
// itself (which the registry does not hold) is refused before the claim.
func TestPublishNames(t *testing.T) {
	m, err := certs.New(certs.Options{CADir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	dir, err := account.NewDirectory("localhost", nil)
	if err != nil {
		t.Fatal(err)
	}
	names := route.NewMemory()
	ctx := context.Background()
	if _, err := names.Claim(ctx, route.Claim{Name: "web.localhost", Kind: route.KindHTTP, Owner: "ann", Member: "http"}); err != nil {
		t.Fatal(err)
	}
	e := New(Options{BaseDomain: "localhost", Accounts: dir, Certs: m, HTTP: authHost{}, Names: names})
	defer e.Close()
	publish := func(sni string) (tunnel.Endpoint, error) {
		return e.Publish(ctx, &tunnel.BindRequest{TunnelID: "t-" + sni, Owner: tunnel.Owner{Account: "ann"}, Command: "tls", RemotePort: 443, Forward: idleForward{}, Console: idleForward{}},
			sdk.Binding{Kind: sdk.KindTLS, SNIName: sni})
	}
	for sni, want := range map[string]string{
		"web":  "web.localhost is in use by an http tunnel; pick another name",
		"auth": "auth.localhost is used by the edge itself; pick another name",
	} {
		if ep, err := publish(sni); err == nil || !strings.Contains(err.Error(), want) {
			if ep != nil {
				ep.Close()
			}
			t.Errorf("Publish(%s) error = %v, want %q", sni, err, want)
		}
	}
	ep, err := publish("db")
	if err != nil {
		t.Fatalf("Publish(db) error = %v", err)
	}
	if got, ok := names.Lookup("db.localhost", route.KindTLS); !ok || got != ep {
		t.Errorf("Lookup(db.localhost, tls) = %v, %v; want the endpoint", got, ok)
	}
	if !e.Serves("db.localhost") || e.Serves("web.localhost") {
		t.Errorf("Serves: db %v, web %v; want true, false", e.Serves("db.localhost"), e.Serves("web.localhost"))
	}
	ep.Close()
	if _, ok := names.Lookup("db.localhost", route.KindTLS); ok {
		t.Errorf("db.localhost still claimed after its endpoint closed")
	}
}
