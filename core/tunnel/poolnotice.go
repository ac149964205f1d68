package tunnel

import (
	"strconv"
	"sync/atomic"
)

// MaxPoolNotices bounds the lines a pool member's session gets about other
// members joining and leaving (PoolNotices), so a flapping client cannot
// flood its pool's sessions.
const MaxPoolNotices = 10

// PoolNotices tells a pool member's session that its pool changed, at most
// MaxPoolNotices times and then once that further changes go untold. The
// zero value tells nothing; set Line before the endpoint is published.
type PoolNotices struct {
	// Line is the member's console (Console.Line).
	Line func(string)
	sent atomic.Int32
}

// Changed tells that a tunnel joined (or left) the pool of name, which has
// n members now.
func (p *PoolNotices) Changed(name string, joined bool, n int) {
	if p == nil || p.Line == nil {
		return
	}
	what := "left"
	if joined {
		what = "joined"
	}
	switch k := p.sent.Add(1); {
	case k < MaxPoolNotices:
		p.Line("Pooled      a tunnel " + what + " " + name + ": pool of " + strconv.Itoa(n) + " now")
	case k == MaxPoolNotices:
		p.Line("Pooled      " + name + ": further changes to the pool are not shown")
	}
}
