package httpedge

import (
	"net/http"
	"net/netip"

	"github.com/sshgress/sshgress/core/route"
)

// poolNeedsName refuses --pooling-enabled on a forward that names nothing:
// a random name cannot be shared.
const poolNeedsName = "--pooling-enabled shares one name among several tunnels, so it needs a name: give one in -R, e.g. -R app:443:localhost:3000"

// pick returns the member of ms (a name's members in the registry) to
// serve the next request, skipping skip and members not ready yet: the one
// with the fewest requests in flight (least outstanding), ties broken in
// turn, so sequential requests go round the pool. nil when there is none.
// An unpooled name (one member) is returned as it is: its readiness is
// ServeHTTP's to check.
func (e *Edge) pick(ms []route.Member, skip *endpoint) *endpoint {
	if len(ms) == 1 && skip == nil {
		ep, _ := ms[0].(*endpoint)
		return ep
	}
	best, ok := route.LeastLoaded(ms, e.poolTurn.Add(1), func(ep *endpoint) (int64, bool) {
		return ep.inflight.Load(), ep != skip && ep.ready.Load()
	})
	if !ok && skip == nil && len(ms) > 0 {
		first, _ := ms[0].(*endpoint)
		return first // none ready: ServeHTTP answers 503
	}
	return best
}

// forward sends r to ep's local service. A pool member's request that has
// no body and cannot reach ep's service (its connection has gone, its dial
// fails) is sent once to another ready member instead, so the visitor sees
// no error while one member leaves.
func (ep *endpoint) forward(w http.ResponseWriter, r *http.Request, visitor netip.AddrPort) (int, error) {
	if !ep.pooled {
		return ep.upstream.Forward(w, r, visitor)
	}
	ep.inflight.Add(1)
	status, declined, err := ep.upstream.TryForward(w, r, visitor)
	ep.inflight.Add(-1)
	if !declined {
		return status, err
	}
	alt := ep.edge.pick(ep.edge.names.Members(ep.host, route.KindHTTP), ep)
	if alt == nil {
		return ep.upstream.Unreachable(w, r, err)
	}
	ep.edge.log.Debug("pool member unreachable; request sent to another member", "host", ep.host, "err", err)
	alt.inflight.Add(1)
	defer alt.inflight.Add(-1)
	return alt.upstream.Forward(w, r, visitor)
}

// tellPool tells the members of host's pool but self that self joined (or
// left) it, and returns the pool's size now.
func (e *Edge) tellPool(host string, self *endpoint, joined bool) int {
	ms := e.names.Members(host, route.KindHTTP)
	for _, m := range ms {
		if o, ok := m.(*endpoint); ok && o != self && o.pooled {
			o.notes.Changed(host, joined, len(ms))
		}
	}
	return len(ms)
}

// PoolSize is how many tunnels served the name when ep joined its pool
// (tunnel.PoolMember); 0 for an endpoint opened without --pooling-enabled.
func (ep *endpoint) PoolSize() int { return ep.poolSize }
