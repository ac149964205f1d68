package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestPerTunnelCap: per-tunnel series exist only under the opt-in and
// its cap; a meter feeds its type and itself; Release deletes the series
// and frees the slot, once.
func TestPerTunnelCap(t *testing.T) {
	t.Run("off by default", func(t *testing.T) {
		m := New(Options{})
		if tm := m.Tunnel("t1", "ann", m.Type("http")); tm != nil {
			t.Fatal("a per-tunnel meter without Options.PerTunnel")
		}
		var nilMetrics *Metrics
		if tm := nilMetrics.Tunnel("t1", "ann", nil); tm != nil {
			t.Fatal("a per-tunnel meter from nil metrics")
		}
		var tm *Tunnel // every method is nil-safe
		tm.Request()
		tm.In(1)
		tm.Out(1)
		tm.Response(200, time.Millisecond, 0)
		tm.Describe("http", "http://x")
		tm.Release()
	})
	t.Run("capped", func(t *testing.T) {
		m := New(Options{PerTunnel: 2})
		typ := m.Type("http")
		a, b := m.Tunnel("a", "ann", typ), m.Tunnel("b", "bob", typ)
		if a == nil || b == nil {
			t.Fatal("no meter under the cap")
		}
		if c := m.Tunnel("c", "ann", typ); c != nil {
			t.Fatal("a meter past the cap")
		}
		if got := testutil.ToFloat64(m.tunnels.over); got != 1 {
			t.Errorf("refused = %v, want 1", got)
		}
		a.Describe("http", "http://a.localhost")
		a.Request()
		a.In(10)
		a.Out(20)
		a.Response(404, time.Millisecond, 0)
		if got := testutil.ToFloat64(m.tunnels.requests.WithLabelValues("a", "ann")); got != 1 {
			t.Errorf("tunnel a requests = %v, want 1", got)
		}
		if got := testutil.ToFloat64(typ.requests); got != 1 {
			t.Errorf("type requests = %v, want 1 (fed through the tunnel's meter)", got)
		}
		if got := testutil.ToFloat64(m.tunnels.classes.WithLabelValues("a", "ann", "4xx")); got != 1 {
			t.Errorf("tunnel a 4xx = %v, want 1", got)
		}
		a.Release()
		a.Release() // idempotent: frees one slot only
		if n := testutil.CollectAndCount(m.tunnels.info); n != 0 {
			t.Errorf("%d info series after Release, want 0", n)
		}
		if n := testutil.CollectAndCount(m.tunnels.requests); n != 1 { // b's only
			t.Errorf("%d request series after Release, want 1", n)
		}
		if c := m.Tunnel("c", "ann", typ); c == nil {
			t.Error("no meter after a slot was freed")
		}
		if d := m.Tunnel("d", "ann", typ); d != nil {
			t.Error("a second Release freed a second slot")
		}
	})
	t.Run("capped at MaxPerTunnel", func(t *testing.T) {
		m := New(Options{PerTunnel: MaxPerTunnel * 2})
		if m.tunnels.max != MaxPerTunnel {
			t.Errorf("cap %d, want %d", m.tunnels.max, MaxPerTunnel)
		}
	})
	t.Run("exposition", func(t *testing.T) {
		m := New(Options{PerTunnel: 1})
		tm := m.Tunnel("a", "ann", m.Type("tcp"))
		tm.Describe("tcp", "tcp://localhost:40000")
		n, err := testutil.GatherAndCount(m.Registry(), "sshgress_per_tunnel_info")
		if err != nil || n != 1 {
			t.Errorf("per_tunnel_info series = %d, %v; want 1", n, err)
		}
		if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(`
# HELP sshgress_per_tunnel_series_refused_total Tunnels opened while metrics.per_tunnel tunnels already had series of their own, so they got none.
# TYPE sshgress_per_tunnel_series_refused_total counter
sshgress_per_tunnel_series_refused_total 0
`), "sshgress_per_tunnel_series_refused_total"); err != nil {
			t.Error(err)
		}
	})
}
