package route

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/sshgress/sshgress/core/account"
	"github.com/sshgress/sshgress/core/usererr"
	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"
)

func keyLine(t testing.TB) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(ssh.MarshalAuthorizedKey(key))
}

func testDirectory(t testing.TB) *account.Directory {
	t.Helper()
	d, err := account.NewDirectory("tunnel.example.com", []account.Spec{
		{Name: "ann", Keys: []string{keyLine(t)}, Domains: []string{"ann", "app.example.org", "deep.ann.tunnel.example.com"}},
		{Name: "bob", Keys: []string{keyLine(t)}, Domains: []string{"bob", "bob.example.org"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestResolve(t *testing.T) {
	dir := testDirectory(t)
	ann, bob, anon := dir.Owner("ann.tunnel.example.com"), dir.Owner("bob.tunnel.example.com"), account.Anonymous()
	n := &Namer{Base: "tunnel.example.com", Accounts: dir}
	const random = "<random>"
	tests := []struct {
		name         string
		acct         *account.Account
		remote       string
		want         string // random: a random label name
		wantTakeover bool
		wantErr      string
	}{
		{name: "empty is random", acct: ann, remote: "", want: random},
		{name: "star is random", acct: ann, remote: "*", want: random},
		{name: "localhost is random", acct: ann, remote: "LocalHost", want: random},
		{name: "localhost dot is random", acct: ann, remote: "localhost.", want: random},
		{name: "anonymous random", acct: anon, remote: "", want: random},
		{name: "ipv4", acct: ann, remote: "0.0.0.0", wantErr: "remote name \"0.0.0.0\" is an IP address; leave it out for a random name, or give a domain name"},
		{name: "ipv6", acct: ann, remote: "::1", wantErr: "is an IP address; leave it out"},
		{name: "metadata ip", acct: ann, remote: "169.254.169.254", wantErr: "is an IP address; leave it out"},
		{name: "bad name", acct: ann, remote: "a..b", wantErr: "empty label"},
		{name: "free label", acct: ann, remote: "Shop", want: "shop.tunnel.example.com", wantTakeover: true},
		{name: "numeric label", acct: ann, remote: "123", want: "123.tunnel.example.com", wantTakeover: true},
		{name: "free label fqdn", acct: ann, remote: "shop.tunnel.example.com", want: "shop.tunnel.example.com", wantTakeover: true},
		{name: "own label", acct: ann, remote: "ann", want: "ann.tunnel.example.com", wantTakeover: true},
		{name: "own label fqdn", acct: ann, remote: "ANN.tunnel.example.com.", want: "ann.tunnel.example.com", wantTakeover: true},
		{name: "other's label", acct: bob, remote: "ann", wantErr: "ann.tunnel.example.com is reserved by another account"},
		{name: "anonymous free label", acct: anon, remote: "shop", want: "shop.tunnel.example.com", wantTakeover: true},
		{name: "anonymous reserved label", acct: anon, remote: "ann", wantErr: "reserved by another account"},
		{name: "own custom domain", acct: ann, remote: "App.Example.org", want: "app.example.org", wantTakeover: true},
		{name: "own deep subdomain", acct: ann, remote: "deep.ann.tunnel.example.com", want: "deep.ann.tunnel.example.com", wantTakeover: true},
		{name: "other's custom domain", acct: ann, remote: "bob.example.org", wantErr: "bob.example.org is not reserved by your account; ask the operator to add it to your account's domains, or use a subdomain of tunnel.example.com"},
		{name: "unreserved custom domain", acct: ann, remote: "evil.example", wantErr: "evil.example is not reserved by your account"},
		{name: "unreserved deep subdomain", acct: bob, remote: "x.ann.tunnel.example.com", wantErr: "is not reserved by your account"},
		{name: "base itself", acct: ann, remote: "tunnel.example.com", wantErr: "tunnel.example.com is not reserved by your account"},
		{name: "anonymous custom domain", acct: anon, remote: "app.example.org", wantErr: "is not reserved by your account"},
		{name: "wildcard", acct: ann, remote: "*.example.org", wantErr: "contains '*'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := n.Resolve(Claimant{Account: tt.acct, Key: "SHA256:k"}, tt.remote)
			got, isRandom, takeover := res.Name, res.Random, res.Takeover
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("Resolve(%s, %q) = %q, want error containing %q", tt.acct.Name, tt.remote, got, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) || !usererr.Is(err) {
					t.Errorf("Resolve(%s, %q) error = %q, want a user error containing %q", tt.acct.Name, tt.remote, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve(%s, %q) error = %v, want nil", tt.acct.Name, tt.remote, err)
			}
			if tt.want == random {
				label, ok := strings.CutSuffix(got, ".tunnel.example.com")
				if !ok || len(label) != randomLabelLen || !isRandom || takeover {
					t.Errorf("Resolve(%s, %q) = %q, %v, %v; want a random label under the base, true, false", tt.acct.Name, tt.remote, got, isRandom, takeover)
				}
				return
			}
			if got != tt.want || isRandom || takeover != tt.wantTakeover {
				t.Errorf("Resolve(%s, %q) = %q, %v, %v; want %q, false, %v", tt.acct.Name, tt.remote, got, isRandom, takeover, tt.want, tt.wantTakeover)
			}
		})
	}
}

func TestResolveEmptyDirectory(t *testing.T) {
	n := &Namer{Base: "localhost"}
	anon := Claimant{Account: account.Anonymous(), Key: "SHA256:k"}
	res, err := n.Resolve(anon, "app")
	if err != nil || res.Name != "app.localhost" || !res.Takeover {
		t.Errorf("Resolve(anonymous, \"app\") = %+v, %v; want \"app.localhost\" with takeover, nil", res, err)
	}
	if _, err := n.Resolve(Claimant{}, "app"); err == nil {
		t.Errorf("Resolve(nil account) error = nil, want an error")
	}
	if _, err := n.Resolve(Claimant{Account: account.Anonymous()}, "app"); err == nil {
		t.Errorf("Resolve(anonymous without a key) error = nil, want an error: anonymous owners are told apart by key")
	}
	if _, err := (&Namer{}).Resolve(anon, ""); err == nil {
		t.Errorf("Resolve with no base error = nil, want an error")
	}
}

func TestResolveRandomSkipsReserved(t *testing.T) {
	// A zero reader always yields the label "aaaaaaaaaa"; reserve it.
	d, err := account.NewDirectory("localhost", []account.Spec{
		{Name: "ann", Keys: []string{keyLine(t)}, Domains: []string{"aaaaaaaaaa"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	n := &Namer{Base: "localhost", Accounts: d, Rand: bytes.NewReader(make([]byte, 1000))}
	res, err := n.Resolve(Claimant{Account: account.Anonymous(), Key: "SHA256:k"}, "")
	if random := res.Random; !errors.Is(err, ErrInUse) || !random {
		t.Errorf("Resolve with only reserved random names = %v, %v; want random true and ErrInUse", random, err)
	}
}

func TestRandomLabel(t *testing.T) {
	seen := make(map[string]bool)
	for _, n := range []*Namer{{}, {Rand: iotest.ErrReader(errors.New("broken"))}} {
		for range 100 {
			label := n.RandomLabel()
			if len(label) != randomLabelLen || label[0] < 'a' || label[0] > 'z' {
				t.Fatalf("RandomLabel() = %q, want %d characters starting with a letter", label, randomLabelLen)
			}
			if got, err := Normalize(label + ".localhost"); err != nil || got != label+".localhost" {
				t.Fatalf("RandomLabel() = %q, which does not normalise to itself: %q, %v", label, got, err)
			}
			if seen[label] {
				t.Fatalf("RandomLabel() returned %q twice", label)
			}
			seen[label] = true
		}
	}
}

func FuzzResolve(f *testing.F) {
	for _, s := range []string{"", "*", "localhost", "ann", "app.example.org", "0.0.0.0", "::1", "a..b", "ANN.tunnel.example.com.", "Bücher"} {
		f.Add(s)
	}
	dir := testDirectory(f)
	n := &Namer{Base: "tunnel.example.com", Accounts: dir}
	bob := dir.Owner("bob.tunnel.example.com")
	f.Fuzz(func(t *testing.T, remote string) {
		res, err := n.Resolve(Claimant{Account: bob, Key: "SHA256:k"}, remote)
		name := res.Name
		if err != nil {
			if !usererr.Is(err) {
				t.Fatalf("Resolve(%q) error %q is not a user error", remote, err)
			}
			return
		}
		if again, err := Normalize(name); err != nil || again != name {
			t.Fatalf("Resolve(%q) = %q, which is not normal: %q, %v", remote, name, again, err)
		}
		if owner := dir.Owner(name); owner != nil && owner.Name != "bob" {
			t.Fatalf("Resolve(%q) = %q, reserved by %q, for bob", remote, name, owner.Name)
		}
		if !n.isLabelName(name) && (!res.Takeover || dir.Owner(name) == nil) {
			t.Fatalf("Resolve(%q) = %q, not a label name and not bob's reservation", remote, name)
		}
		if res.Random == res.Takeover {
			t.Fatalf("Resolve(%q) = %+v: every name but a random one is claimed with takeover", remote, res)
		}
	})
}
