package route

import (
	"crypto/rand"
	"errors"
	"io"
	"strings"

	"github.com/sshgress/sshgress/core/account"
	"github.com/sshgress/sshgress/core/route/dnsname"
	"github.com/sshgress/sshgress/core/usererr"
)

// randomLabelLen is the length of a random label: one letter (log2 26 ≈ 4.7
// bits) and nine base32 characters (45 bits).
const randomLabelLen = 10

// randomTries bounds how often Resolve draws a new random label when one
// happens to be a reserved name.
const randomTries = 4

// Namer decides which public name an account's HTTP or TLS endpoint gets
// for the remote name its SSH client sent. It holds no state of its own and
// is safe for concurrent use when Rand is.
type Namer struct {
	// Base is the normalised base domain ("localhost",
	// "tunnel.example.com"); required. Random and label names live one
	// label below it.
	Base string
	// Accounts holds the reservations; it may be nil or empty (then every
	// label name is first come, first served).
	Accounts *account.Directory
	// Rand is the source of random labels; crypto/rand.Reader when nil.
	// If it fails, crypto/rand.Reader is used instead.
	Rand io.Reader
}

// Resolve returns the FQDN an HTTP/TLS endpoint of acct binds for remote,
// the bind address the client sent in its tcpip-forward request.
//
//   - "", "*" or "localhost" (any case): a random "<label>.<Base>", with
//     random true: on ErrInUse from Claim the caller may call Resolve again.
//   - an IP address: a user error.
//   - a bare label L, or "L.<Base>": "L.<Base>". Free labels are first come,
//     first served; one reserved by acct gives takeover true; one reserved
//     by another account is a user error.
//   - any other name (a custom domain, a deeper subdomain, Base itself):
//     only if acct reserved it, with takeover true; otherwise a user error.
//
// takeover true means the caller claims with takeover, so the owner can
// reconnect over a stale session. The anonymous account gets only random
// and free label names. Accounts are compared by Name.
func (n *Namer) Resolve(acct *account.Account, remote string) (name string, random, takeover bool, err error) {
	if acct == nil {
		return "", false, false, errors.New("route: resolve: nil account")
	}
	if n.Base == "" {
		return "", false, false, errors.New("route: resolve: empty base domain")
	}
	if remote == "" || remote == "*" || strings.EqualFold(remote, "localhost") {
		return n.random()
	}
	if IsIP(remote) {
		return "", false, false, usererr.Errorf("remote name %s is an IP address; leave it out for a random name, or give a domain name", dnsname.Quote(remote))
	}
	if !strings.Contains(remote, ".") {
		// A bare label; joined before normalising so that "123" is a
		// label, not an IPv4 address.
		name, err = Normalize(remote + "." + n.Base)
	} else {
		name, err = Normalize(remote)
	}
	if err != nil {
		return "", false, false, err
	}
	if name == "localhost" {
		return n.random()
	}

	owner := n.Accounts.Owner(name)
	own := owner != nil && !acct.Anonymous && owner.Name == acct.Name
	if n.isLabelName(name) {
		if owner != nil && !own {
			return "", false, false, usererr.Errorf("%s is reserved by another account", name)
		}
		return name, false, own, nil
	}
	if own {
		return name, false, true, nil
	}
	return "", false, false, usererr.Errorf("%s is not reserved by your account; ask the operator to add it to your account's domains, or use a subdomain of %s", name, n.Base)
}

// isLabelName reports whether name is exactly one label under Base.
func (n *Namer) isLabelName(name string) bool {
	label, ok := strings.CutSuffix(name, "."+n.Base)
	return ok && label != "" && !strings.Contains(label, ".")
}

// random returns a fresh random name that no account has reserved.
func (n *Namer) random() (name string, random, takeover bool, err error) {
	for range randomTries {
		name, err = Normalize(n.RandomLabel() + "." + n.Base)
		if err != nil {
			return "", false, false, err
		}
		if n.Accounts.Owner(name) == nil {
			return name, true, false, nil
		}
	}
	return "", true, false, usererr.Wrap(ErrInUse, "no free random name was found; try again")
}

// RandomLabel returns a DNS-safe lowercase label with about 50 bits of
// randomness: a letter followed by nine characters of base32 (a-z, 2-7).
func (n *Namer) RandomLabel() string {
	const letters = "abcdefghijklmnopqrstuvwxyz"
	const base32 = "abcdefghijklmnopqrstuvwxyz234567"
	var b [randomLabelLen]byte
	r := n.Rand
	if r == nil {
		r = rand.Reader
	}
	if _, err := io.ReadFull(r, b[:]); err != nil {
		// crypto/rand.Read never fails; it aborts the program instead.
		_, _ = rand.Read(b[:])
	}
	b[0] = letters[int(b[0])%len(letters)]
	for i := 1; i < len(b); i++ {
		b[i] = base32[b[i]&31]
	}
	return string(b[:])
}

// Bind resolves the public name an endpoint of acct gets for remote (the
// bind address its client sent) and claims it in t for v. taken reports,
// as a user error, that another kind of endpoint (or the edge itself)
// already serves a name; it is asked before the claim, and a random name
// it refuses is drawn again, as is one that collides in t. The owner's own
// reserved name is taken over from a stale session: replaced reports that
// prev lost it.
func Bind[T comparable](t Claims[T], n *Namer, acct *account.Account, remote string, v T, taken func(name string) error) (name string, prev T, replaced bool, err error) {
	for range 5 {
		name, random, takeover, err := n.Resolve(acct, remote)
		if err != nil {
			return "", prev, false, err
		}
		if taken != nil {
			if err := taken(name); err != nil {
				if random {
					continue
				}
				return "", prev, false, err
			}
		}
		prev, replaced, err = t.Claim(name, acct.Name, takeover, v)
		if errors.Is(err, ErrInUse) && random {
			continue
		}
		if err != nil {
			return "", prev, false, err
		}
		return name, prev, replaced, nil
	}
	return "", prev, false, usererr.New("could not find a free random name; try again")
}
