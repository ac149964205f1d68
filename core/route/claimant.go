package route

import (
	"errors"

	"github.com/sshgress/sshgress/core/account"
)

// Claimant is who asks for a public name: the account of an SSH
// connection, the key that connection proved it holds, and, for a forward
// of an `ssh -N` connection that names nothing, which such forward it is.
type Claimant struct {
	// Account is the connection's account; required.
	Account *account.Account
	// Key is the SHA256 fingerprint ("SHA256:…") of the key the connection
	// authenticated with; required for the anonymous account, whose users
	// are told apart by it alone.
	Key string
	// Stable is n ≥ 1 for the nth forward without a remote name on a
	// connection with no session (`ssh -N`): instead of a random name it
	// gets the stable name StableLabel derives from the account, the key
	// and n, so its URL is the same every time. 0 draws a random name.
	Stable int
}

// anonymousOwnerPrefix starts the owner of an anonymous claim. It holds a
// character no account name from config can start with, so the two kinds
// never compare equal.
const anonymousOwnerPrefix = "\x00" + account.AnonymousName + " key "

// Owner is what the name registry compares to decide whether a claim may
// take a name over from an older one: the account name; for the anonymous
// account, which every local user shares, the account and the key, so two
// anonymous users (two keys) can never take each other's names.
func (c Claimant) Owner() string {
	if c.Account == nil {
		return ""
	}
	if c.Account.Anonymous {
		return anonymousOwnerPrefix + c.Key
	}
	return c.Account.Name
}

// check refuses a claimant whose owner would be ambiguous.
func (c Claimant) check() error {
	switch {
	case c.Account == nil:
		return errors.New("route: claim: nil account")
	case c.Account.Anonymous && c.Key == "":
		return errors.New("route: claim: anonymous claim without a key fingerprint")
	case c.Stable < 0:
		return errors.New("route: claim: negative stable slot")
	}
	return nil
}
