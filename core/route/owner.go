package route

import (
	"github.com/sshgress/sshgress/core/account"
	"github.com/sshgress/sshgress/core/tunnel"
)

// ClaimantOf is the claimant of a tunnel's owner (tunnel.BindRequest.Owner):
// who claims the forward's public name in route.Bind.
func ClaimantOf(o tunnel.Owner) Claimant {
	return Claimant{
		Account: &account.Account{Name: o.Account, Anonymous: o.Anonymous, Domains: o.Domains, TCPAddresses: o.TCPAddresses},
		Key:     o.Key,
		Stable:  o.Stable,
	}
}
