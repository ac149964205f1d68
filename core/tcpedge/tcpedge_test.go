package tcpedge

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"

	"github.com/sshgress/sshgress/core/account"
	"github.com/sshgress/sshgress/core/tunnel"
	"github.com/sshgress/sshgress/core/usererr"
)

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func keyLine(t *testing.T) string {
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

// wantUserError fails unless err is a user error containing want.
func wantUserError(t *testing.T, err error, want string) {
	t.Helper()
	var ue *usererr.Error
	if err == nil || !errors.As(err, &ue) || !strings.Contains(err.Error(), want) {
		t.Fatalf("got error %v, want a user error containing %q", err, want)
	}
}

// TestListenRange: a port-0 tunnel gets a port of the plugin's range that
// is neither the edge's own, nor reserved by an account, nor busy, nor
// held by another endpoint; with none left the user is told so.
func TestListenRange(t *testing.T) {
	p := freePort(t)
	lo, hi := p-5, p+5
	if lo < 1024 {
		lo, hi = p, p+10
	}
	others := func() []int {
		var out []int
		for q := lo; q <= hi; q++ {
			if q != p {
				out = append(out, q)
			}
		}
		return out
	}

	t.Run("the one port left is found", func(t *testing.T) {
		// Every port but p is the edge's own: the walk from a random
		// start must still reach p, whatever the start.
		e := New(Options{ListenHost: "127.0.0.1", ExcludePorts: others()})
		for range 20 {
			ep := &endpoint{}
			ln, err := e.listenRange(lo, hi, ep)
			if err != nil {
				t.Fatalf("listenRange %d-%d with only %d free: %v", lo, hi, p, err)
			}
			if got := ln.Addr().(*net.TCPAddr).Port; got != p {
				t.Fatalf("got port %d, want %d", got, p)
			}
			ln.Close()
			e.release(p, ep)
		}
	})

	t.Run("own port", func(t *testing.T) {
		e := New(Options{ListenHost: "127.0.0.1", ExcludePorts: []int{p}})
		_, err := e.listenRange(p, p, &endpoint{})
		wantUserError(t, err, "no free public TCP port")
	})

	t.Run("reserved port", func(t *testing.T) {
		dir, err := account.NewDirectory("localhost", []account.Spec{{Name: "ann", Keys: []string{keyLine(t)}, TCPAddresses: []string{"localhost:" + strconv.Itoa(p)}}})
		if err != nil {
			t.Fatal(err)
		}
		e := New(Options{ListenHost: "127.0.0.1", Accounts: dir})
		_, err = e.listenRange(p, p, &endpoint{})
		wantUserError(t, err, "no free public TCP port")
	})

	t.Run("port reserved after start-up", func(t *testing.T) {
		key := keyLine(t)
		dir, err := account.NewDirectory("localhost", []account.Spec{{Name: "ann", Keys: []string{key}}})
		if err != nil {
			t.Fatal(err)
		}
		e := New(Options{ListenHost: "127.0.0.1", Accounts: dir})
		spec := []account.Spec{{Name: "ann", Keys: []string{key}, TCPAddresses: []string{"localhost:" + strconv.Itoa(p)}}}
		if err := dir.SetConfig(t.Context(), spec, nil); err != nil {
			t.Fatal(err)
		}
		_, err = e.listenRange(p, p, &endpoint{})
		wantUserError(t, err, "no free public TCP port")
	})

	t.Run("busy port", func(t *testing.T) {
		busy, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer busy.Close()
		bp := busy.Addr().(*net.TCPAddr).Port
		e := New(Options{ListenHost: "127.0.0.1"})
		_, err = e.listenRange(bp, bp, &endpoint{})
		wantUserError(t, err, "no free public TCP port")
		if n := e.Len(); n != 0 {
			t.Errorf("Len %d after a failed bind, want 0: the port stayed claimed", n)
		}
	})

	t.Run("held by another endpoint", func(t *testing.T) {
		e := New(Options{ListenHost: "127.0.0.1"})
		first := &endpoint{}
		ln, err := e.listenRange(p, p, first)
		if err != nil {
			t.Fatalf("first listenRange: %v", err)
		}
		defer ln.Close()
		if n := e.Len(); n != 1 {
			t.Fatalf("Len %d, want 1", n)
		}
		_, err = e.listenRange(p, p, &endpoint{})
		wantUserError(t, err, "no free public TCP port")
		e.release(p, &endpoint{}) // not the holder: no effect
		if n := e.Len(); n != 1 {
			t.Fatalf("Len %d after another endpoint's release, want 1", n)
		}
		e.release(p, first)
		if n := e.Len(); n != 0 {
			t.Fatalf("Len %d after release, want 0", n)
		}
	})

	t.Run("bad range", func(t *testing.T) {
		e := New(Options{ListenHost: "127.0.0.1"})
		for _, r := range [][2]int{{0, 10}, {100, 99}, {65000, 65536}} {
			if _, err := e.listenRange(r[0], r[1], &endpoint{}); err == nil || !strings.Contains(err.Error(), "port range") {
				t.Errorf("range %d-%d: error %v, want a port range error", r[0], r[1], err)
			}
		}
	})

	t.Run("after close", func(t *testing.T) {
		e := New(Options{ListenHost: "127.0.0.1"})
		e.Close()
		e.Close() // idempotent
		_, err := e.listenRange(p, p, &endpoint{})
		wantUserError(t, err, "shutting down")
	})
}

// TestListenReserved: a non-zero port is only for the account that
// reserved host:port, never an anonymous or other account, and never one
// of the edge's own ports.
func TestListenReserved(t *testing.T) {
	p := freePort(t)
	addr := "localhost:" + strconv.Itoa(p)
	dir, err := account.NewDirectory("localhost", []account.Spec{
		{Name: "ann", Keys: []string{keyLine(t)}, TCPAddresses: []string{addr}},
		{Name: "bob", Keys: []string{keyLine(t)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ann, bob := dir.ByName("ann"), dir.ByName("bob")
	if ann == nil || bob == nil {
		t.Fatal("accounts not found by name")
	}
	e := New(Options{ListenHost: "127.0.0.1", Accounts: dir})
	for _, tt := range []struct {
		name string
		acct *account.Account
	}{{"no account", nil}, {"anonymous", account.Anonymous()}, {"other account", bob}} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.listenReserved(ownerOf(tt.acct), "localhost", p, &endpoint{})
			wantUserError(t, err, "not reserved for you")
		})
	}
	t.Run("own port", func(t *testing.T) {
		own := New(Options{ListenHost: "127.0.0.1", Accounts: dir, ExcludePorts: []int{p}})
		_, err := own.listenReserved(ownerOf(ann), "localhost", p, &endpoint{})
		wantUserError(t, err, "one of the edge's own ports")
	})
	t.Run("owner", func(t *testing.T) {
		ln, err := e.listenReserved(ownerOf(ann), "localhost", p, &endpoint{owner: "ann"})
		if err != nil {
			t.Fatalf("the owner's reserved port: %v", err)
		}
		defer ln.Close()
		if got := ln.Addr().(*net.TCPAddr).Port; got != p {
			t.Errorf("port %d, want %d", got, p)
		}
	})
}

// ownerOf is the tunnel owner the SSH server sends for a connection of a
// (the zero Owner for nil).
func ownerOf(a *account.Account) tunnel.Owner {
	if a == nil {
		return tunnel.Owner{}
	}
	return tunnel.Owner{Account: a.Name, Anonymous: a.Anonymous, Domains: a.Domains, TCPAddresses: a.TCPAddresses}
}
