package route

import (
	"context"
	"errors"
	"reflect"
	"sort"
	"sync"

	"github.com/sshgress/sshgress/core/usererr"
)

// ErrInUse is the cause of the error Claim returns when a name is bound to
// another tunnel. Detect it with errors.Is; the error itself is a user error
// reading "<name> is in use by another tunnel" (or, when a tunnel of
// another kind holds it, "<name> is in use by a tls tunnel; pick another
// name").
var ErrInUse = errors.New("route: name in use")

// ErrPoolUnsupported is the cause of the error Claim returns for a claim
// that asks to join a pool (Claim.Pool): pooled endpoints are not built yet.
var ErrPoolUnsupported = errors.New("route: pooled endpoints are not supported")

// Kind is the kind of endpoint that claims a public name. HTTP and TLS
// names share one namespace (both are served on the shared TLS port, routed
// by SNI), so a name held by one kind is in use for the other. TCP names
// are "host:port" addresses, which never equal a host name.
type Kind uint8

// The kinds of claim.
const (
	// KindHTTP is an http(s) endpoint's host name.
	KindHTTP Kind = iota + 1
	// KindTLS is a tls passthrough endpoint's SNI name.
	KindTLS
	// KindTCP is a tcp endpoint's "host:port" listen address.
	KindTCP
)

// String returns the kind as users read it: "http", "tls" or "tcp".
func (k Kind) String() string {
	switch k {
	case KindHTTP:
		return "http"
	case KindTLS:
		return "tls"
	case KindTCP:
		return "tcp"
	}
	return "unknown"
}

// article is "a" or "an" before the kind's name in a sentence.
func (k Kind) article() string {
	if k == KindHTTP {
		return "an"
	}
	return "a"
}

// Member is one tunnel's hold on a name: in the in-memory registry the
// endpoint itself (a pointer); a distributed backend stores an identifier
// of the node and the tunnel instead. It must be comparable and non-nil.
type Member any

// Claim asks the registry for a name.
type Claim struct {
	// Name is the normalised name (Normalize, or NormalizeHostPort for
	// KindTCP); required.
	Name string
	// Kind is the kind of endpoint claiming it; required.
	Kind Kind
	// Owner is who claims it (Claimant.Owner); required. Only the same
	// owner may take a name over.
	Owner string
	// Takeover lets the claim replace the members of the same owner and
	// kind that hold the name: the owner reconnecting over a stale
	// session. The replaced members are returned; their callers close them.
	Takeover bool
	// Pool asks to join the members already holding the name (pooled
	// endpoints, load-balanced) instead of replacing them. Reserved:
	// such a claim is refused with ErrPoolUnsupported today.
	Pool bool
	// Tunnel is the tunnel's ID (tunnel.BindRequest.TunnelID), returned by
	// ByOwner so the SSH side can say which forward a name belongs to.
	Tunnel string
	// Member is the claiming tunnel's hold on the name; required.
	Member Member
}

// Entry is one member holding a name, as its Claim stated it.
type Entry struct {
	// Name is the normalised name held.
	Name string
	// Kind is the kind of endpoint holding it.
	Kind Kind
	// Owner is the holder's Claimant.Owner.
	Owner string
	// Tunnel is the holding tunnel's ID.
	Tunnel string
	// Member is the holding tunnel's hold on the name (Claim.Member).
	Member Member
}

// Registry is the one name registry of the edge: every public name (an
// HTTP host, a TLS SNI name, a TCP "host:port" address), the kind of the
// endpoint holding it, its owner and its member. httpedge, tlsedge and
// tcpedge share one Registry, so a conflict between kinds is decided by
// the claim itself, never by asking another table first.
//
// Memory is the implementation used on one node. A distributed backend
// (etcd with leases and compare-and-swap, several edge nodes serving one
// domain) implements the same interface and must keep these semantics:
//
//   - Claim is atomic: checking who holds the name and binding it is one
//     step (a transaction comparing the key's revision), so of two
//     concurrent claims of a free name, of any kinds, exactly one wins.
//   - A name held by another owner is refused (ErrInUse), with takeover or
//     without; a name held by another kind is refused even for the same
//     owner.
//   - A name held by the same owner and kind is refused without Takeover;
//     with it, the claim replaces every member and returns them, and their
//     callers tell the stale tunnels and close them.
//   - Release removes a member only if it still holds the name (compare
//     the stored member), so a stale tunnel closing after a takeover never
//     unbinds its successor.
//   - Lookup answers from local state without a round trip (a watch keeps
//     a distributed backend's cache current); it is on every request's path.
//   - Pooled claims (Claim.Pool) are refused with ErrPoolUnsupported until
//     pools are built; room for them is in the return value of Claim and
//     in ByOwner, which list every member.
type Registry interface {
	// Claim binds c.Name to c.Member and returns the members it replaced
	// (a takeover). Errors wrapping ErrInUse are user errors.
	Claim(ctx context.Context, c Claim) (prev []Entry, err error)
	// Release unbinds name from m if m still holds it, and reports
	// whether it did.
	Release(name string, m Member) bool
	// Lookup returns the member that holds name for kind. A name held by
	// another kind is not found.
	Lookup(name string, kind Kind) (Member, bool)
	// ByOwner lists every name owner holds, sorted by name.
	ByOwner(owner string) []Entry
}

var _ Registry = (*Memory)(nil)

// Memory is the in-memory Registry, safe for concurrent use: one map and
// one lock for every kind. Lookup is O(1) and does not allocate. The zero
// value is an empty registry. Its size is bounded by the callers, which
// bound tunnels per connection and connections.
type Memory struct {
	mu sync.RWMutex
	m  map[string]Entry
}

// NewMemory returns an empty in-memory registry.
func NewMemory() *Memory { return &Memory{m: make(map[string]Entry)} }

// Claim binds c.Name; see Registry.
func (r *Memory) Claim(ctx context.Context, c Claim) ([]Entry, error) {
	switch {
	case c.Name == "":
		return nil, errors.New("route: claim: empty name")
	case c.Kind < KindHTTP || c.Kind > KindTCP:
		return nil, errors.New("route: claim: unknown kind")
	case c.Member == nil || !reflect.TypeOf(c.Member).Comparable():
		return nil, errors.New("route: claim: member is nil or not comparable")
	case c.Pool:
		return nil, usererr.Wrap(ErrPoolUnsupported, "pooled endpoints (several tunnels serving "+c.Name+") are not supported yet; use one tunnel per name")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = make(map[string]Entry)
	}
	held, ok := r.m[c.Name]
	switch {
	case !ok:
	case held.Kind != c.Kind:
		return nil, usererr.Wrap(ErrInUse, c.Name+" is in use by "+held.Kind.article()+" "+held.Kind.String()+" tunnel; pick another name")
	case held.Owner != c.Owner || !c.Takeover:
		return nil, usererr.Wrap(ErrInUse, c.Name+" is in use by another tunnel")
	}
	r.m[c.Name] = Entry{Name: c.Name, Kind: c.Kind, Owner: c.Owner, Tunnel: c.Tunnel, Member: c.Member}
	if ok {
		return []Entry{held}, nil
	}
	return nil, nil
}

// Release unbinds name if m still holds it; see Registry.
func (r *Memory) Release(name string, m Member) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.m[name]; ok && e.Member == m {
		delete(r.m, name)
		return true
	}
	return false
}

// Lookup returns the member holding name for kind; see Registry.
func (r *Memory) Lookup(name string, kind Kind) (Member, bool) {
	r.mu.RLock()
	e, ok := r.m[name]
	r.mu.RUnlock()
	if !ok || e.Kind != kind {
		return nil, false
	}
	return e.Member, true
}

// ByOwner lists owner's names, sorted by name; see Registry.
func (r *Memory) ByOwner(owner string) []Entry {
	r.mu.RLock()
	var out []Entry
	for _, e := range r.m {
		if e.Owner == owner {
			out = append(out, e)
		}
	}
	r.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Len returns the number of bound names of kind.
func (r *Memory) Len(kind Kind) int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	n := 0
	for _, e := range r.m {
		if e.Kind == kind {
			n++
		}
	}
	return n
}
