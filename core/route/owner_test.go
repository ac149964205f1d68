package route

import (
	"testing"

	"github.com/sshgress/sshgress/core/account"
	"github.com/sshgress/sshgress/core/tunnel"
)

// TestClaimantOf: the claimant built from a tunnel's owner (what the
// public side gets through the tunnel contract) is the claimant of the
// account itself: the same owner, the same stable name, the same
// resolution of every kind of remote name.
func TestClaimantOf(t *testing.T) {
	dir := testDirectory(t)
	ann, anon := dir.Owner("ann.tunnel.example.com"), account.Anonymous()
	n := &Namer{Base: "tunnel.example.com", Accounts: dir, StableKey: []byte("0123456789abcdef0123456789abcdef")}
	ownerOf := func(a *account.Account, key string, stable int) tunnel.Owner {
		return tunnel.Owner{Account: a.Name, Anonymous: a.Anonymous, Domains: a.Domains, TCPAddresses: a.TCPAddresses, Key: key, Stable: stable}
	}
	for _, tt := range []struct {
		name   string
		acct   *account.Account
		key    string
		stable int
	}{
		{"account", ann, "SHA256:ann", 0},
		{"account stable", ann, "SHA256:ann", 2},
		{"anonymous", anon, "SHA256:someone", 0},
		{"anonymous stable", anon, "SHA256:someone", 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			want := Claimant{Account: tt.acct, Key: tt.key, Stable: tt.stable}
			got := ClaimantOf(ownerOf(tt.acct, tt.key, tt.stable))
			if got.Owner() != want.Owner() {
				t.Errorf("owner %q, want %q", got.Owner(), want.Owner())
			}
			for _, remote := range []string{"ann", "app.example.org", "bob.example.org", "shop"} {
				g, gerr := n.Resolve(got, remote)
				w, werr := n.Resolve(want, remote)
				if g != w || (gerr == nil) != (werr == nil) || gerr != nil && gerr.Error() != werr.Error() {
					t.Errorf("Resolve(%q) = %+v, %v; the account's own claimant gets %+v, %v", remote, g, gerr, w, werr)
				}
			}
			if tt.stable > 0 {
				g, gerr := n.Resolve(got, "")
				w, werr := n.Resolve(want, "")
				if gerr != nil || werr != nil || g != w {
					t.Errorf("stable name %+v, %v; want %+v, %v", g, gerr, w, werr)
				}
			}
		})
	}
}
