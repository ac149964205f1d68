package route

import (
	"context"
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
	// StableKey is the edge's secret for stable names (LoadNameKey); with
	// none, a Claimant's Stable slot is ignored and names are random.
	StableKey []byte
}

// Resolution is the name Resolve chose and how to claim it.
type Resolution struct {
	// Name is the normalised FQDN to claim.
	Name string
	// Random marks a freshly drawn random name: on ErrInUse from the
	// claim, Resolve again for another one.
	Random bool
	// Stable marks the claimant's stable name (Namer.StableLabel): on
	// ErrInUse (another owner holds it, a 2^-50 chance) fall back to a
	// random name.
	Stable bool
	// Takeover means the claim may replace one of the same owner
	// (Claimant.Owner): the owner reconnecting over a stale session.
	// Every name but a random one is claimed so.
	Takeover bool
}

// Resolve returns the FQDN an HTTP/TLS endpoint of c binds for remote,
// the bind address the client sent in its tcpip-forward request.
//
//   - "", "*" or "localhost" (any case): a random "<label>.<Base>", or, for
//     a claimant with a Stable slot, its stable name under Base.
//   - an IP address: a user error.
//   - a bare label L, or "L.<Base>": "L.<Base>". Free labels are first come,
//     first served; one reserved by another account is a user error.
//   - any other name (a custom domain, a deeper subdomain, Base itself):
//     only if c's account reserved it; otherwise a user error.
//
// Every name but a random one is claimed with takeover, so the same owner
// reconnecting gets it back at once from a stale session; the name registry
// refuses it to any other owner. The anonymous account gets only random,
// stable and free label names. Accounts are compared by Name.
func (n *Namer) Resolve(c Claimant, remote string) (Resolution, error) {
	if err := c.check(); err != nil {
		return Resolution{}, err
	}
	acct := c.Account
	if n.Base == "" {
		return Resolution{}, errors.New("route: resolve: empty base domain")
	}
	if remote == "" || remote == "*" || strings.EqualFold(remote, "localhost") {
		return n.unnamed(c)
	}
	if IsIP(remote) {
		return Resolution{}, usererr.Errorf("remote name %s is an IP address; leave it out for a random name, or give a domain name", dnsname.Quote(remote))
	}
	var name string
	var err error
	if !strings.Contains(remote, ".") {
		// A bare label; joined before normalising so that "123" is a
		// label, not an IPv4 address.
		name, err = Normalize(remote + "." + n.Base)
	} else {
		name, err = Normalize(remote)
	}
	if err != nil {
		return Resolution{}, err
	}
	if name == "localhost" {
		return n.unnamed(c)
	}
	owner := n.Accounts.Owner(name)
	own := owner != nil && !acct.Anonymous && owner.Name == acct.Name
	if n.isLabelName(name) {
		if owner != nil && !own {
			return Resolution{}, usererr.Errorf("%s is reserved by another account", name)
		}
		return Resolution{Name: name, Takeover: true}, nil
	}
	if own {
		return Resolution{Name: name, Takeover: true}, nil
	}
	return Resolution{}, usererr.Errorf("%s is not reserved by your account; ask the operator to add it to your account's domains, or use a subdomain of %s", name, n.Base)
}

// AsksRandom reports whether remote, a forward's bind address, names no
// public name (the client left it out): Resolve then draws a random or
// stable name.
func AsksRandom(remote string) bool {
	if remote == "" || remote == "*" || strings.EqualFold(remote, "localhost") {
		return true
	}
	if IsIP(remote) || !strings.Contains(remote, ".") {
		return false
	}
	name, err := Normalize(remote)
	return err == nil && name == "localhost"
}

// unnamed resolves a forward that names nothing: c's stable name if it has
// a slot and it is not reserved, else a random one.
func (n *Namer) unnamed(c Claimant) (Resolution, error) {
	if label := n.StableLabel(c); label != "" {
		name, err := Normalize(label + "." + n.Base)
		if err != nil {
			return Resolution{}, err
		}
		if n.Accounts.Owner(name) == nil {
			return Resolution{Name: name, Stable: true, Takeover: true}, nil
		}
	}
	return n.random()
}

// isLabelName reports whether name is exactly one label under Base.
func (n *Namer) isLabelName(name string) bool {
	label, ok := strings.CutSuffix(name, "."+n.Base)
	return ok && label != "" && !strings.Contains(label, ".")
}

// random returns a fresh random name that no account has reserved.
func (n *Namer) random() (Resolution, error) {
	for range randomTries {
		name, err := Normalize(n.RandomLabel() + "." + n.Base)
		if err != nil {
			return Resolution{}, err
		}
		if n.Accounts.Owner(name) == nil {
			return Resolution{Name: name, Random: true}, nil
		}
	}
	return Resolution{Random: true}, usererr.Wrap(ErrInUse, "no free random name was found; try again")
}

// RandomLabel returns a DNS-safe lowercase label with about 50 bits of
// randomness: a letter followed by nine characters of base32 (a-z, 2-7).
func (n *Namer) RandomLabel() string {
	var b [randomLabelLen]byte
	r := n.Rand
	if r == nil {
		r = rand.Reader
	}
	if _, err := io.ReadFull(r, b[:]); err != nil {
		// crypto/rand.Read never fails; it aborts the program instead.
		_, _ = rand.Read(b[:])
	}
	return labelFrom(b[:])
}

// labelFrom lays out the first randomLabelLen bytes of b (at least that
// many) as a label: a letter, then base32 characters (a-z, 2-7).
func labelFrom(b []byte) string {
	const letters = "abcdefghijklmnopqrstuvwxyz"
	const base32 = "abcdefghijklmnopqrstuvwxyz234567"
	var out [randomLabelLen]byte
	out[0] = letters[int(b[0])%len(letters)]
	for i := 1; i < len(out); i++ {
		out[i] = base32[b[i]&31]
	}
	return string(out[:])
}

// Bind resolves the public name an endpoint of c gets for remote (the
// bind address its client sent) and claims it in r, as c.Owner(), with
// want's kind, tunnel and member (want's Name, Owner and Takeover are
// Bind's to fill in). taken reports, as a user error, a name the edge
// serves itself; it is asked before the claim. A random or stable name
// that taken refuses or that is in use (by any kind: the registry decides)
// is drawn again, a stable one falling back to a random one. A name the
// same owner holds is taken over from the older tunnel: prev lists the
// members that lost it, and the caller tells their connections and closes
// them.
func Bind(ctx context.Context, r Registry, n *Namer, c Claimant, remote string, want Claim, taken func(name string) error) (name string, prev []Entry, err error) {
	for range 5 {
		res, err := n.Resolve(c, remote)
		if err != nil {
			return "", nil, err
		}
		retry := res.Random || res.Stable
		if taken != nil {
			if err := taken(res.Name); err != nil {
				if retry {
					c.Stable = 0
					continue
				}
				return "", nil, err
			}
		}
		claim := want
		claim.Name, claim.Owner, claim.Takeover = res.Name, c.Owner(), res.Takeover
		prev, err = r.Claim(ctx, claim)
		if errors.Is(err, ErrInUse) && retry {
			c.Stable = 0
			continue
		}
		if err != nil {
			return "", nil, err
		}
		return res.Name, prev, nil
	}
	return "", nil, usererr.New("could not find a free random name; try again")
}
