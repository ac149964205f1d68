package tcpedge

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// MaxUnansweredFromOwner bounds the connections of one endpoint that come
// from its owner's own SSH client address and whose upstream has not sent
// a byte yet. Past it, further connections from that address are refused
// as a forwarding loop.
//
// The SSH forward request never says where the client sends what it
// receives, so a tunnel whose local target is the edge's own public port
// (`-R 443:localhost:8443 … tls` on the default set-up) is only visible at
// run time: every connection the edge forwards comes straight back to the
// edge from the owner's address, is forwarded again, and nothing in the
// chain ever answers. Counting such unanswered connections bounds what one
// visitor can fan out into to this many channels, without a clock. The
// owner visiting their own tunnel is unaffected as long as fewer than this
// many of their connections at once are still waiting for the service's
// first byte (a browser opens six).
const MaxUnansweredFromOwner = 8

// loopNoticeEvery rate-limits the console line about a loop.
const loopNoticeEvery = time.Minute

// loopGuard counts an endpoint's unanswered connections from its owner's
// address. The zero value guards nothing.
type loopGuard struct {
	owner netip.Addr

	mu         sync.Mutex
	unanswered int
	noticed    time.Time
}

// admit reports whether a visitor from addr may be served. For a visitor
// from the owner's address it takes a slot that release gives back (call
// it once the upstream answered or the connection ended; it is
// idempotent); release is nil for any other visitor. notice is set when
// the refusal should be told to the owner (at most once per
// loopNoticeEvery).
func (g *loopGuard) admit(addr netip.Addr) (ok bool, release func(), notice bool) {
	if !g.fromOwner(addr) {
		return true, nil, false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.unanswered >= MaxUnansweredFromOwner {
		now := time.Now()
		if g.noticed.IsZero() || now.Sub(g.noticed) >= loopNoticeEvery {
			g.noticed = now
			notice = true
		}
		return false, nil, notice
	}
	g.unanswered++
	var done atomic.Bool
	return true, func() {
		if done.CompareAndSwap(false, true) {
			g.mu.Lock()
			g.unanswered--
			g.mu.Unlock()
		}
	}, false
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
	return fmt.Sprintf("Connections from your own address were refused: this tunnel's local target looks like this edge's own port %d (a forwarding loop). Point -R at your service instead.", port)
}

// answerWatch is an upstream that calls answered at its first byte.
type answerWatch struct {
	Upstream
	answered func()
}

func (a *answerWatch) Read(p []byte) (int, error) {
	n, err := a.Upstream.Read(p)
	if n > 0 && a.answered != nil {
		a.answered()
		a.answered = nil
	}
	return n, err
}
