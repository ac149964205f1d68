package route

import (
	"errors"
	"sync"

	"github.com/sshgress/sshgress/core/usererr"
)

// ErrInUse is the cause of the error Claim returns when a name is bound to
// another tunnel. Detect it with errors.Is; the error itself is a user error
// reading "<name> is in use by another tunnel".
var ErrInUse = errors.New("route: name in use")

// Claims is the route-ownership seam: the in-memory Table on one node, or a
// distributed backend (etcd with leases and compare-and-swap) when several
// edge nodes serve one domain. Keys are normalised host names, SNI names or
// "host:port" TCP addresses. Nothing outside the backend knows which one it
// has.
type Claims[T comparable] interface {
	// Claim binds name to v for owner; see Table.Claim.
	Claim(name, owner string, takeover bool, v T) (prev T, replaced bool, err error)
	// Release unbinds name if it is still bound to v; see Table.Release.
	Release(name string, v T) bool
	// Lookup returns the value bound to name; see Table.Lookup.
	Lookup(name string) (T, bool)
}

var _ Claims[int] = (*Table[int])(nil)

// Table is an in-memory route table from a name to a value (a tunnel),
// safe for concurrent use. Lookup is O(1) and does not allocate. The zero
// value is an empty table. Its size is bounded by the callers, which bound
// tunnels per connection and connections.
type Table[T comparable] struct {
	mu sync.RWMutex
	m  map[string]binding[T]
}

// binding is one bound name.
type binding[T comparable] struct {
	owner string
	v     T
}

// NewTable returns an empty table.
func NewTable[T comparable]() *Table[T] {
	return &Table[T]{m: make(map[string]binding[T])}
}

// Claim binds name (already normalised) to v for owner (Claimant.Owner:
// the account name, or for the anonymous account the account and key).
// A free name is bound. A name bound to a different owner, or to the same
// owner when takeover is false, gives an error wrapping ErrInUse. A name
// bound to the same owner with takeover true is rebound to v, and the
// previous value is returned with replaced true: the caller closes that
// stale tunnel.
func (t *Table[T]) Claim(name, owner string, takeover bool, v T) (prev T, replaced bool, err error) {
	if name == "" {
		return prev, false, errors.New("route: claim: empty name")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = make(map[string]binding[T])
	}
	if b, ok := t.m[name]; ok {
		if b.owner != owner || !takeover {
			return prev, false, usererr.Wrap(ErrInUse, name+" is in use by another tunnel")
		}
		t.m[name] = binding[T]{owner: owner, v: v}
		return b.v, true, nil
	}
	t.m[name] = binding[T]{owner: owner, v: v}
	return prev, false, nil
}

// Release unbinds name only if it is still bound to v (a takeover may have
// rebound it to a newer tunnel) and reports whether it did.
func (t *Table[T]) Release(name string, v T) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if b, ok := t.m[name]; ok && b.v == v {
		delete(t.m, name)
		return true
	}
	return false
}

// Lookup returns the value bound to the normalised name.
func (t *Table[T]) Lookup(name string) (T, bool) {
	t.mu.RLock()
	b, ok := t.m[name]
	t.mu.RUnlock()
	return b.v, ok
}

// Len returns the number of bound names.
func (t *Table[T]) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.m)
}
