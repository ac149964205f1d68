package route

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"sync"

	"github.com/sshgress/sshgress/core/usererr"
)

// ErrInUse is the cause of the error Claim returns when a name is bound to
// another tunnel. Detect it with errors.Is; the error itself is a user error
// reading "<name> is in use by another tunnel" (or, when a tunnel of
// another kind holds it, "<name> is in use by a tls tunnel; pick another
// name").
var ErrInUse = errors.New("route: name in use")

// ErrPoolMismatch is the cause of the error Claim returns when a claim
// and the name's holders disagree about pooling: a pooled claim (Claim.Pool)
// for a name the same owner holds unpooled, an unpooled claim for a pool,
// a pooled claim whose PoolTerms differ from the pool's, or a pool that is
// full (MaxPoolMembers). Detect it with errors.Is; the error is a user
// error saying what to do.
var ErrPoolMismatch = errors.New("route: pooling mismatch")

// MaxPoolMembers bounds the members of one pool.
const MaxPoolMembers = 64

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
	// Pool asks to join the members of the same owner and kind already
	// holding the name (a pooled endpoint, `--pooling-enabled`) instead of
	// replacing them; Takeover is then ignored. A name is pooled or not
	// from its first claim until its last member leaves: a claim that
	// disagrees is refused with ErrPoolMismatch.
	Pool bool
	// PoolTerms is what every member of a pool must share (PoolTerms: the
	// flags the tunnel was opened with), so that a visitor spread to any
	// member meets the same rules. Only compared for Pool claims.
	PoolTerms string
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
//   - A pooled claim (Claim.Pool) of the same owner, kind and PoolTerms
//     joins the pool that holds the name, up to MaxPoolMembers; a pooled
//     claim for an unpooled name, or the reverse, is refused
//     (ErrPoolMismatch). Release of a member keeps the name for the
//     others; the last one's release unbinds it.
type Registry interface {
	// Claim binds c.Name to c.Member and returns the members it replaced
	// (a takeover). Errors wrapping ErrInUse are user errors.
	Claim(ctx context.Context, c Claim) (prev []Entry, err error)
	// Release unbinds name from m if m still holds it, and reports
	// whether it did.
	Release(name string, m Member) bool
	// Lookup returns the member that holds name for kind (for a pool, its
	// oldest member). A name held by another kind is not found.
	Lookup(name string, kind Kind) (Member, bool)
	// Members returns every member holding name for kind, oldest first:
	// one for an unpooled name, the pool's members for a pooled one, none
	// when the name is not held by kind. The slice is shared: callers
	// must not modify it. It is on every request's path and must not
	// allocate.
	Members(name string, kind Kind) []Member
	// ByOwner lists every name owner holds, sorted by name.
	ByOwner(owner string) []Entry
}

var _ Registry = (*Memory)(nil)

// Memory is the in-memory Registry, safe for concurrent use: one map and
// one lock for every kind. Lookup and Members are O(1) and do not
// allocate. The zero value is an empty registry. Its size is bounded by
// the callers, which bound tunnels per connection and connections, and a
// pool's by MaxPoolMembers.
type Memory struct {
	mu sync.RWMutex
	m  map[string]*holding
}

// holding is who holds one name: one member, or the members of a pool.
// entries and members are copy-on-write: a slice handed out by Members is
// never changed.
type holding struct {
	kind    Kind
	owner   string
	pool    bool
	terms   string
	entries []Entry
	members []Member
}

// NewMemory returns an empty in-memory registry.
func NewMemory() *Memory { return &Memory{m: make(map[string]*holding)} }

// Claim binds c.Name; see Registry.
func (r *Memory) Claim(ctx context.Context, c Claim) ([]Entry, error) {
	switch {
	case c.Name == "":
		return nil, errors.New("route: claim: empty name")
	case c.Kind < KindHTTP || c.Kind > KindTCP:
		return nil, errors.New("route: claim: unknown kind")
	case c.Member == nil || !reflect.TypeOf(c.Member).Comparable():
		return nil, errors.New("route: claim: member is nil or not comparable")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e := Entry{Name: c.Name, Kind: c.Kind, Owner: c.Owner, Tunnel: c.Tunnel, Member: c.Member}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = make(map[string]*holding)
	}
	held, ok := r.m[c.Name]
	if ok {
		if c.Pool && held.pool && slices.Contains(held.members, c.Member) {
			return nil, errors.New("route: claim: member already in the pool")
		}
		if err := Refusal(c, Held{Kind: held.kind, Owner: held.owner, Pool: held.pool, Terms: held.terms, Members: len(held.members)}); err != nil {
			return nil, err
		}
		if c.Pool {
			r.m[c.Name] = &holding{
				kind: held.kind, owner: held.owner, pool: true, terms: held.terms,
				entries: append(slices.Clip(held.entries), e),
				members: append(slices.Clip(held.members), c.Member),
			}
			return nil, nil
		}
	}
	r.m[c.Name] = &holding{kind: c.Kind, owner: c.Owner, pool: c.Pool, terms: c.PoolTerms, entries: []Entry{e}, members: []Member{c.Member}}
	if ok {
		return held.entries, nil
	}
	return nil, nil
}

// Held is who holds a name, as Refusal needs it.
type Held struct {
	// Kind, Owner, Pool and Terms are the holders' (Claim's fields).
	Kind  Kind
	Owner string
	Pool  bool
	Terms string
	// Members is how many members hold the name.
	Members int
}

// Refusal applies Registry's rules to claim c of a name that held holds:
// nil when c may have it (joining the pool for a pooled claim, replacing
// the members with Takeover), else the user error saying why not. Every
// Registry implementation decides with it, so the rules and their words
// are one.
func Refusal(c Claim, held Held) error {
	switch {
	case held.Kind != c.Kind:
		return usererr.Wrap(ErrInUse, c.Name+" is in use by "+held.Kind.article()+" "+held.Kind.String()+" tunnel; pick another name")
	case held.Owner != c.Owner:
		return InUse(c.Name)
	case held.Pool != c.Pool:
		if held.Pool {
			return usererr.Wrap(ErrPoolMismatch, c.Name+" is served by a pool of your tunnels (--pooling-enabled); add --pooling-enabled to join the pool, or pick another name")
		}
		return usererr.Wrap(ErrPoolMismatch, c.Name+" is held by a tunnel of yours opened without --pooling-enabled; close that tunnel (or reopen it with --pooling-enabled) to pool the name, or pick another name")
	case c.Pool:
		if held.Terms != c.PoolTerms {
			return usererr.Wrap(ErrPoolMismatch, "the tunnels of a pool must be opened with the same flags, and "+c.Name+" is pooled with other flags; use the same flags as the pool's other tunnels, or pick another name")
		}
		if held.Members >= MaxPoolMembers {
			return usererr.Wrap(ErrPoolMismatch, c.Name+" is served by "+strconv.Itoa(MaxPoolMembers)+" pooled tunnels already, the most a pool may have")
		}
	case !c.Takeover:
		return InUse(c.Name)
	}
	return nil
}

// InUse is the user error for a name another tunnel holds (or is kept
// for while its owner reconnects).
func InUse(name string) error {
	return usererr.Wrap(ErrInUse, name+" is in use by another tunnel")
}

// Release unbinds name from m if m still holds it; see Registry.
func (r *Memory) Release(name string, m Member) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	held, ok := r.m[name]
	if !ok {
		return false
	}
	i := slices.Index(held.members, m)
	switch {
	case i < 0:
		return false
	case len(held.members) == 1:
		delete(r.m, name)
	default:
		r.m[name] = &holding{
			kind: held.kind, owner: held.owner, pool: held.pool, terms: held.terms,
			entries: slices.Delete(slices.Clone(held.entries), i, i+1),
			members: slices.Delete(slices.Clone(held.members), i, i+1),
		}
	}
	return true
}

// Lookup returns the member holding name for kind; see Registry.
func (r *Memory) Lookup(name string, kind Kind) (Member, bool) {
	ms := r.Members(name, kind)
	if len(ms) == 0 {
		return nil, false
	}
	return ms[0], true
}

// Members returns the members holding name for kind; see Registry.
func (r *Memory) Members(name string, kind Kind) []Member {
	r.mu.RLock()
	h, ok := r.m[name]
	r.mu.RUnlock()
	if !ok || h.kind != kind {
		return nil
	}
	return h.members
}

// ByOwner lists owner's names, sorted by name, a pool's members oldest
// first; see Registry.
func (r *Memory) ByOwner(owner string) []Entry {
	r.mu.RLock()
	var out []Entry
	for _, h := range r.m {
		if h.owner == owner {
			out = append(out, h.entries...)
		}
	}
	r.mu.RUnlock()
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Len returns the number of bound names of kind (a pool counts once).
func (r *Memory) Len(kind Kind) int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	n := 0
	for _, h := range r.m {
		if h.kind == kind {
			n++
		}
	}
	return n
}
