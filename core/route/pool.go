package route

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"maps"
	"slices"
	"strconv"
	"sync"
)

// poolTermsKey keys PoolTerms' digests: random per process, so a digest of
// flag values (a --basic-auth password among them) is no offline guess
// target for whoever reads memory dumps or logs.
var poolTermsKey = sync.OnceValue(func() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
})

// PoolTerms returns the Claim.PoolTerms of a tunnel opened with the
// plugin flag values values (tunnel.BindRequest.PluginValues) and the
// endpoint type's own facts extra (e.g. "https"): the tunnels of one pool
// must agree on them, so a visitor meets the same auth and rules whichever
// member serves it. It is a keyed digest; the values themselves are not
// kept.
func PoolTerms(values map[string]map[string][]string, extra ...string) string {
	h := hmac.New(sha256.New, poolTermsKey())
	var n [8]byte
	put := func(s string) {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	for _, x := range extra {
		put(x)
	}
	for _, plugin := range slices.Sorted(maps.Keys(values)) {
		put("plugin " + plugin)
		for _, flag := range slices.Sorted(maps.Keys(values[plugin])) {
			put("flag " + flag + " " + strconv.Itoa(len(values[plugin][flag])))
			for _, v := range values[plugin][flag] {
				put(v)
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// LeastLoaded picks the member of a pool (ms, as Registry.Members returns
// them) to serve the next visitor: the one of type E with the lowest load
// (least outstanding: requests or connections in flight), ties going to
// the members in turn, since the scan starts at turn % len(ms) (the caller
// advances turn per pick). load reports a member's load, or false to skip
// it (closing, not ready, the member that just failed). ok is false when
// every member is skipped.
func LeastLoaded[E any](ms []Member, turn uint32, load func(E) (int64, bool)) (best E, ok bool) {
	n := len(ms)
	if n == 0 {
		return best, false
	}
	start := int(turn % uint32(n))
	var least int64
	for i := range n {
		m, isE := ms[(start+i)%n].(E)
		if !isE {
			continue
		}
		if l, use := load(m); use && (!ok || l < least) {
			best, least, ok = m, l, true
		}
	}
	return best, ok
}
