package tcpedge

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"

	"github.com/sshgress/sshgress/core/route"
	"github.com/sshgress/sshgress/core/tunnel"
	"github.com/sshgress/sshgress/core/usererr"
)

// poolNeedsAddress refuses --pooling-enabled on a tcp forward to port 0: a
// random port cannot be shared.
const poolNeedsAddress = "--pooling-enabled on tcp shares a TCP address reserved for your account among several tunnels, so it needs one: give it in -R (e.g. -R host:PORT:localhost:5432); a random port cannot be shared"

// portListener is a public listener: an unpooled endpoint's own (single),
// or the one the members of a pooled endpoint share, opened by the first
// and closed by the last to leave.
type portListener struct {
	ln     net.Listener
	port   int
	single *endpoint // the endpoint served; nil for a pool (pick chooses)
	refs   int       // endpoints using it; guarded by Edge.mu
	start  sync.Once // starts the accept loop, or marks it never started
	done   chan struct{}
}

// joinReserved claims the reserved host:port of o's account for a pool
// member: the first member listens, the others share its listener.
func (e *Edge) joinReserved(o tunnel.Owner, host string, port int, ep *endpoint, terms string) (*portListener, error) {
	addr, err := e.reservedFor(o, host, port)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, usererr.New("the edge is shutting down")
	}
	_, err = e.names.Claim(context.Background(), route.Claim{
		Name: e.key(port), Kind: route.KindTCP, Owner: ep.owner, Pool: true, PoolTerms: terms, Tunnel: ep.tunnel, Member: ep,
	})
	if err != nil {
		if errors.Is(err, route.ErrPoolMismatch) {
			return nil, err
		}
		return nil, usererr.Errorf("%s is in use by another tunnel", addr)
	}
	pl := e.shared[port]
	if pl == nil {
		ln, err := net.Listen("tcp", net.JoinHostPort(e.opts.ListenHost, strconv.Itoa(port)))
		if err != nil {
			e.names.Release(e.key(port), ep)
			e.log.Warn("cannot listen on a reserved TCP port", "port", port, "err", err)
			return nil, usererr.Wrap(err, "the edge could not listen on "+addr+" (the port is busy); tell the operator")
		}
		pl = &portListener{ln: ln, port: port, done: make(chan struct{})}
		e.shared[port] = pl
	}
	pl.refs++
	e.eps[ep] = true
	ep.poolSize = e.tellPool(port, ep, true)
	return pl, nil
}

// tellPool tells the members of port's pool but self that self joined (or
// left) it, and returns the pool's size now.
func (e *Edge) tellPool(port int, self *endpoint, joined bool) int {
	ms := e.names.Members(e.key(port), route.KindTCP)
	for _, m := range ms {
		if o, ok := m.(*endpoint); ok && o != self && o.pooled {
			o.notes.Changed(net.JoinHostPort(o.host, strconv.Itoa(port)), joined, len(ms))
		}
	}
	return len(ms)
}

// pick returns the endpoint to serve pl's next visitor: its own for an
// unpooled listener; for a pool, the live member other than skip with the
// fewest open connections (least outstanding), ties broken in turn. nil
// when there is none.
func (e *Edge) pick(pl *portListener, skip *endpoint) *endpoint {
	if pl.single != nil {
		return pl.single
	}
	ms := e.names.Members(e.key(pl.port), route.KindTCP)
	e.mu.Lock() // guards live
	defer e.mu.Unlock()
	e.turn++
	best, _ := route.LeastLoaded(ms, e.turn, func(ep *endpoint) (int64, bool) {
		return int64(ep.relay.Len()), ep != skip && ep.live && ep.lis == pl
	})
	return best
}

// retryElsewhere sends a visitor ep could not dial for to another member
// of its pool (relay.Relay.RetryElsewhere).
func (ep *endpoint) retryElsewhere(visitor net.Conn, hello []byte) bool {
	alt := ep.edge.pick(ep.lis, ep)
	if alt == nil {
		return false
	}
	alt.relay.ServeRetried(visitor, hello)
	return true
}

// PoolSize is how many tunnels served the address when ep joined its pool
// (tunnel.PoolMember); 0 for an endpoint opened without --pooling-enabled.
func (ep *endpoint) PoolSize() int { return ep.poolSize }
