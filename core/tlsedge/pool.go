package tlsedge

import (
	"net"

	"github.com/sshgress/sshgress/core/route"
)

// poolNeedsName refuses --pooling-enabled on a forward that names nothing:
// a random name cannot be shared.
const poolNeedsName = "--pooling-enabled shares one name among several tunnels, so it needs a name: give one in -R, e.g. -R app:443:localhost:8443"

// pick returns the member of ms (a name's members in the registry) to
// serve the next connection, skipping skip: the one with the fewest open
// connections (least outstanding), ties broken in turn, so sequential
// connections go round the pool. nil when there is none.
func (e *Edge) pick(ms []route.Member, skip *endpoint) *endpoint {
	if len(ms) == 1 && skip == nil {
		ep, _ := ms[0].(*endpoint)
		return ep
	}
	best, _ := route.LeastLoaded(ms, e.poolTurn.Add(1), func(ep *endpoint) (int64, bool) {
		return int64(ep.relay.Len()), ep != skip
	})
	return best
}

// retryElsewhere sends a visitor ep could not dial for, with the
// ClientHello it sent, to another member of its pool
// (relay.Relay.RetryElsewhere).
func (ep *endpoint) retryElsewhere(visitor net.Conn, hello []byte) bool {
	alt := ep.edge.pick(ep.edge.names.Members(ep.name, route.KindTLS), ep)
	if alt == nil {
		return false
	}
	alt.relay.ServeRetried(visitor, hello)
	return true
}

// tellPool tells the members of name's pool but self that self joined (or
// left) it, and returns the pool's size now.
func (e *Edge) tellPool(name string, self *endpoint, joined bool) int {
	ms := e.names.Members(name, route.KindTLS)
	for _, m := range ms {
		if o, ok := m.(*endpoint); ok && o != self && o.pooled {
			o.notes.Changed(name, joined, len(ms))
		}
	}
	return len(ms)
}

// PoolSize is how many tunnels served the name when ep joined its pool
// (tunnel.PoolMember); 0 for an endpoint opened without --pooling-enabled.
func (ep *endpoint) PoolSize() int { return ep.poolSize }
