package pluginhost

import (
	"net/http"
	"testing"
	"time"

	"github.com/sshgress/sshgress/sdk"
)

func TestVerdictCache(t *testing.T) {
	now := time.Unix(1000, 0)
	allow := sdk.Verdict{Continue: &sdk.Continue{}}
	auth := func(v string) http.Header { return http.Header{"Authorization": {v}, "Other": {"x"}} }
	hint := &sdk.CacheHint{DependsOn: []string{"authorization"}, TTL: time.Minute}

	tests := []struct {
		name string
		run  func(c *verdictCache[sdk.Verdict]) bool // reports a hit for the probe
		want bool
	}{
		{"hit on same value", func(c *verdictCache[sdk.Verdict]) bool {
			c.put(hint, auth("a"), 1, allow, now)
			_, ok := c.get(auth("a"), 1, now.Add(59*time.Second))
			return ok
		}, true},
		{"other headers do not matter", func(c *verdictCache[sdk.Verdict]) bool {
			c.put(hint, auth("a"), 1, allow, now)
			h := auth("a")
			h.Set("Other", "y")
			_, ok := c.get(h, 1, now)
			return ok
		}, true},
		{"miss on other value", func(c *verdictCache[sdk.Verdict]) bool {
			c.put(hint, auth("a"), 1, allow, now)
			_, ok := c.get(auth("b"), 1, now)
			return ok
		}, false},
		{"miss when the header is absent", func(c *verdictCache[sdk.Verdict]) bool {
			c.put(hint, auth("a"), 1, allow, now)
			_, ok := c.get(http.Header{}, 1, now)
			return ok
		}, false},
		{"expired", func(c *verdictCache[sdk.Verdict]) bool {
			c.put(hint, auth("a"), 1, allow, now)
			_, ok := c.get(auth("a"), 1, now.Add(time.Minute))
			return ok
		}, false},
		{"ttl capped at 5 minutes", func(c *verdictCache[sdk.Verdict]) bool {
			c.put(&sdk.CacheHint{DependsOn: hint.DependsOn, TTL: time.Hour}, auth("a"), 1, allow, now)
			_, ok := c.get(auth("a"), 1, now.Add(sdk.MaxCacheTTL))
			return ok
		}, false},
		{"older generation is void", func(c *verdictCache[sdk.Verdict]) bool {
			c.put(hint, auth("a"), 1, allow, now)
			_, ok := c.get(auth("a"), 2, now)
			return ok
		}, false},
		{"no headers: one verdict for all", func(c *verdictCache[sdk.Verdict]) bool {
			c.put(&sdk.CacheHint{TTL: time.Minute}, auth("a"), 1, allow, now)
			_, ok := c.get(auth("zzz"), 1, now)
			return ok
		}, true},
		{"least recently used evicted", func(c *verdictCache[sdk.Verdict]) bool {
			c.put(hint, auth("a"), 1, allow, now)
			c.put(hint, auth("b"), 1, allow, now)
			c.get(auth("a"), 1, now)
			c.put(hint, auth("c"), 1, allow, now) // evicts b
			_, ok := c.get(auth("b"), 1, now)
			return ok
		}, false},
		{"recently used kept", func(c *verdictCache[sdk.Verdict]) bool {
			c.put(hint, auth("a"), 1, allow, now)
			c.put(hint, auth("b"), 1, allow, now)
			c.get(auth("a"), 1, now)
			c.put(hint, auth("c"), 1, allow, now)
			_, ok := c.get(auth("a"), 1, now)
			return ok
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newVerdictCache[sdk.Verdict](2)
			if got := tt.run(c); got != tt.want {
				t.Errorf("hit = %v, want %v", got, tt.want)
			}
			if c.len() > 2 {
				t.Errorf("cache holds %d entries, bound is 2", c.len())
			}
		})
	}
}

func TestCacheKeyNoCollisions(t *testing.T) {
	vary := []string{"A", "B"}
	keys := map[[32]byte]string{}
	for name, h := range map[string]http.Header{
		"a=x,b=y":   {"A": {"x"}, "B": {"y"}},
		"a=xb,b=":   {"A": {"xb"}, "B": {""}},
		"a=x,y":     {"A": {"x", "y"}},
		"a=,b=xy":   {"A": {""}, "B": {"xy"}},
		"b=x":       {"B": {"x"}},
		"a=x":       {"A": {"x"}},
		"none":      {},
		"a=(empty)": {"A": {""}},
	} {
		k := cacheKey(vary, h)
		if other, ok := keys[k]; ok {
			t.Errorf("headers %s and %s share a cache key", name, other)
		}
		keys[k] = name
	}
}
