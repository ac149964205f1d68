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

// verdictCache holds one plugin's verdicts for one tunnel. Entries are keyed
// by a sha256 of the values of the headers the verdict depended on, so
// credentials are not kept in plain text. It is bounded (least recently used
// entries go first) and honours each verdict's TTL, capped at
// sdk.MaxCacheTTL.
type verdictCache struct {
	mu      sync.Mutex
	max     int
	varies  [][]string // canonical, sorted DependsOn lists seen, newest last
	entries map[[sha256.Size]byte]*list.Element
	lru     list.List // of *cacheEntry, most recent first
}

type cacheEntry struct {
	key     [sha256.Size]byte
	gen     uint64
	expires time.Time
	verdict sdk.Verdict
}

func newVerdictCache(max int) *verdictCache {
	return &verdictCache{max: max, entries: make(map[[sha256.Size]byte]*list.Element)}
}

// cacheKey hashes the header names in vary and their values in h. Lengths
// are written before every string so different splits never collide.
func cacheKey(vary []string, h http.Header) [sha256.Size]byte {
	d := sha256.New()
	var n [8]byte
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
func (c *verdictCache) get(h http.Header, gen uint64, now time.Time) (sdk.Verdict, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.varies) - 1; i >= 0; i-- {
		key := cacheKey(c.varies[i], h)
		el, ok := c.entries[key]
		if !ok {
			continue
		}
		e := el.Value.(*cacheEntry)
		if e.gen != gen || !now.Before(e.expires) {
			c.lru.Remove(el)
			delete(c.entries, key)
			continue
		}
		c.lru.MoveToFront(el)
		return e.verdict, true
	}
	return sdk.Verdict{}, false
}

// put stores v, which depended on the headers in hint, for a request with
// headers h.
func (c *verdictCache) put(hint *sdk.CacheHint, h http.Header, gen uint64, v sdk.Verdict, now time.Time) {
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
	key := cacheKey(vary, h)

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
	e := &cacheEntry{key: key, gen: gen, expires: now.Add(ttl), verdict: v}
	if el, ok := c.entries[key]; ok {
		el.Value = e
		c.lru.MoveToFront(el)
		return
	}
	c.entries[key] = c.lru.PushFront(e)
	for c.lru.Len() > c.max {
		last := c.lru.Back()
		c.lru.Remove(last)
		delete(c.entries, last.Value.(*cacheEntry).key)
	}
}

// len returns the number of entries, live or not.
func (c *verdictCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
