package relay

import (
	"crypto/sha256"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sshgress/sshgress/core/tunnel"
)

// MaxUnansweredFromOwner bounds the connections of one TCP endpoint that
// come from its owner's own SSH client address and whose upstream has not
// sent a byte yet. Past it, further connections from that address are
// refused as a forwarding loop.
//
// The SSH forward request never says where the client sends what it
// receives, so a tunnel whose local target is the edge's own public port
// is only visible at run time: every connection the edge forwards comes
// straight back to the edge from the owner's address, is forwarded again,
// and nothing in the chain ever answers. For raw TCP that is all the edge
// can see (a looped connection may carry no byte at all), so counting
// such unanswered connections bounds what one visitor can fan out into to
// this many channels, without a clock. The owner visiting their own
// tunnel is unaffected as long as fewer than this many of their
// connections at once are still waiting for the service's first byte.
//
// TLS passthrough (ServeHello) needs no count: a looped connection
// replays the very ClientHello the edge just forwarded, random and all.
const MaxUnansweredFromOwner = 8

// loopNoticeEvery rate-limits the console line about a loop.
const loopNoticeEvery = time.Minute

// loopGuard finds an endpoint's forwarding loops: it counts unanswered
// connections from the owner's address (TCP, see GuardLoops) and remembers
// the ClientHellos forwarded on unanswered connections (TLS, see
// ServeHello). The zero value finds TLS loops only.
type loopGuard struct {
	owner netip.Addr

	mu         sync.Mutex
	unanswered int
	hellos     map[[sha256.Size]byte]int
	noticed    time.Time
}

// admit reports whether a visitor from addr, whose first bytes are hello
// (TLS) or nil (TCP, not read yet), may be served. For a visitor it keeps
// track of it returns release, to call once the upstream answered or the
// connection ended (idempotent); release is nil otherwise. notice is set
// when a refusal should be told to the owner (at most once per
// loopNoticeEvery).
func (g *loopGuard) admit(addr netip.Addr, hello []byte) (ok bool, release func(), notice bool) {
	if hello != nil {
		return g.admitHello(sha256.Sum256(hello))
	}
	if !g.fromOwner(addr) {
		return true, nil, false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.unanswered >= MaxUnansweredFromOwner {
		return false, nil, g.noticeLocked()
	}
	g.unanswered++
	return true, g.once(func() { g.unanswered-- }), false
}

// admitHello refuses a ClientHello the relay forwarded on a connection
// whose upstream has not answered yet: it came back through the tunnel.
func (g *loopGuard) admitHello(fp [sha256.Size]byte) (ok bool, release func(), notice bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.hellos[fp] > 0 {
		return false, nil, g.noticeLocked()
	}
	if g.hellos == nil {
		g.hellos = map[[sha256.Size]byte]int{}
	}
	g.hellos[fp]++
	return true, g.once(func() {
		if g.hellos[fp]--; g.hellos[fp] <= 0 {
			delete(g.hellos, fp)
		}
	}), false
}

// noticeLocked reports whether a refusal now should be told.
func (g *loopGuard) noticeLocked() bool {
	now := time.Now()
	if !g.noticed.IsZero() && now.Sub(g.noticed) < loopNoticeEvery {
		return false
	}
	g.noticed = now
	return true
}

// once returns a func that runs undo under g.mu the first time it is
// called.
func (g *loopGuard) once(undo func()) func() {
	var done atomic.Bool
	return func() {
		if done.CompareAndSwap(false, true) {
			g.mu.Lock()
			undo()
			g.mu.Unlock()
		}
	}
}

// fromOwner reports whether addr is the owner's host: the owner's address,
// or any loopback address when the owner connected over loopback (ssh
// sends `-R …:localhost:PORT` to ::1 or 127.0.0.1, whichever answers).
func (g *loopGuard) fromOwner(addr netip.Addr) bool {
	if !g.owner.IsValid() {
		return false
	}
	addr = addr.Unmap()
	return addr == g.owner || addr.IsLoopback() && g.owner.IsLoopback()
}

// loopNotice is the owner's console line when connections are refused as
// a loop; port is the edge's port they came back to.
func loopNotice(port uint16) string {
	return fmt.Sprintf("Connections that came back through this tunnel were refused: its local target looks like this edge's own port %d (a forwarding loop). Point -R at your service instead.", port)
}

// answerWatch is an upstream that calls answered at its first byte.
type answerWatch struct {
	tunnel.Conn
	answered func()
}

func (a *answerWatch) Read(p []byte) (int, error) {
	n, err := a.Conn.Read(p)
	if n > 0 && a.answered != nil {
		a.answered()
		a.answered = nil
	}
	return n, err
}
