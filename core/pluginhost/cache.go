package pluginhost

import (
	"container/list"
	"crypto/sha256"
	"encoding/binary"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/sshgress/sshgress/sdk"
)

// maxVaryLists bounds the distinct DependsOn lists one cache remembers; a
// plugin normally uses one.
const maxVaryLists = 4

// verdictCache holds one plugin's answers for one tunnel: Check's verdicts
// (V sdk.Verdict, keyed by request headers) or ReviewResponse's edits (V
// sdk.ResponseEdits, keyed by the response's status and headers). Entries
// are keyed by a sha256 of the values of the headers the answer depended
// on, so credentials are not kept in plain text. It is bounded (least
// recently used entries go first) and honours each answer's TTL, capped at
// sdk.MaxCacheTTL.
type verdictCache[V any] struct {
	mu      sync.Mutex
	max     int
	varies  [][]string // canonical, sorted DependsOn lists seen, newest last
	entries map[[sha256.Size]byte]*list.Element
	lru     list.List // of *cacheEntry, most recent first
}

type cacheEntry[V any] struct {
	key     [sha256.Size]byte
	gen     uint64
	expires time.Time
	verdict V
}

func newVerdictCache[V any](max int) *verdictCache[V] {
	return &verdictCache[V]{max: max, entries: make(map[[sha256.Size]byte]*list.Element)}
}

// cacheKey hashes the header names in vary and their values in h. Lengths
// are written before every string so different splits never collide.
func cacheKey(vary []string, h http.Header) [sha256.Size]byte {
	return statusCacheKey(0, vary, h)
}

// statusCacheKey is cacheKey with a response status folded in first (0
// for a request's verdict), so answers for different statuses never share
// an entry.
func statusCacheKey(status int, vary []string, h http.Header) [sha256.Size]byte {
	d := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(status))
	d.Write(n[:])
	write := func(s string) {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		d.Write(n[:])
		d.Write([]byte(s))
	}
	binary.BigEndian.PutUint64(n[:], uint64(len(vary)))
	d.Write(n[:])
	for _, name := range vary {
		write(name)
		values := h[name]
		binary.BigEndian.PutUint64(n[:], uint64(len(values)))
		d.Write(n[:])
		for _, v := range values {
			write(v)
		}
	}
	var key [sha256.Size]byte
	d.Sum(key[:0])
	return key
}

// get returns a live verdict of generation gen for a request with headers
// h.
func (c *verdictCache[V]) get(h http.Header, gen uint64, now time.Time) (V, bool) {
	return c.getStatus(0, h, gen, now)
}

// getStatus is get for a response with status and headers h.
func (c *verdictCache[V]) getStatus(status int, h http.Header, gen uint64, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.varies) - 1; i >= 0; i-- {
		key := statusCacheKey(status, c.varies[i], h)
		el, ok := c.entries[key]
		if !ok {
			continue
		}
		e := el.Value.(*cacheEntry[V])
		if e.gen != gen || !now.Before(e.expires) {
			c.lru.Remove(el)
			delete(c.entries, key)
			continue
		}
		c.lru.MoveToFront(el)
		return e.verdict, true
	}
	var zero V
	return zero, false
}

// put stores v, which depended on the headers in hint, for a request with
// headers h.
func (c *verdictCache[V]) put(hint *sdk.CacheHint, h http.Header, gen uint64, v V, now time.Time) {
	c.putStatus(0, hint, h, gen, v, now)
}

// putStatus is put for a response with status and headers h.
func (c *verdictCache[V]) putStatus(status int, hint *sdk.CacheHint, h http.Header, gen uint64, v V, now time.Time) {
	ttl := min(hint.TTL, sdk.MaxCacheTTL)
	if ttl <= 0 || c.max <= 0 {
		return
	}
	vary := make([]string, 0, len(hint.DependsOn))
	for _, name := range hint.DependsOn {
		vary = append(vary, http.CanonicalHeaderKey(name))
	}
	slices.Sort(vary)
	vary = slices.Compact(vary)
	key := statusCacheKey(status, vary, h)

	c.mu.Lock()
	defer c.mu.Unlock()
	if i := slices.IndexFunc(c.varies, func(x []string) bool { return slices.Equal(x, vary) }); i >= 0 {
		c.varies = append(slices.Delete(c.varies, i, i+1), vary)
	} else {
		if len(c.varies) == maxVaryLists {
			c.varies = slices.Delete(c.varies, 0, 1)
		}
		c.varies = append(c.varies, vary)
	}
	e := &cacheEntry[V]{key: key, gen: gen, expires: now.Add(ttl), verdict: v}
	if el, ok := c.entries[key]; ok {
		el.Value = e
		c.lru.MoveToFront(el)
		return
	}
	c.entries[key] = c.lru.PushFront(e)
	for c.lru.Len() > c.max {
		last := c.lru.Back()
		c.lru.Remove(last)
		delete(c.entries, last.Value.(*cacheEntry[V]).key)
	}
}

// len returns the number of entries, live or not.
func (c *verdictCache[V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
