package metrics

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

// TestEachCounterMoves calls every counting method once and checks the
// one series it must move, by name and labels.
func TestEachCounterMoves(t *testing.T) {
	m := New(Options{})
	ssh, typ := m.SSH(), m.Type("http")
	call := m.Call("basicauth", "check")
	tests := []struct {
		name string
		do   func()
		c    prometheus.Collector
		want float64
	}{
		{"accepted", ssh.Accepted, m.ssh.accepted, 1},
		{"open after accept", func() {}, m.ssh.current, 1},
		{"closed", ssh.Closed, m.ssh.current, 0},
		{"refused penalty", func() { ssh.Refused(RefusedPenalty) }, m.ssh.refused[RefusedPenalty], 1},
		{"refused unknown reason counts nothing", func() { ssh.Refused("nonsense") }, m.ssh.refused[RefusedPenalty], 1},
		{"auth ok", func() { ssh.Auth(true) }, m.ssh.authOK, 1},
		{"auth failed", func() { ssh.Auth(false) }, m.ssh.authFailed, 1},
		{"channel", ssh.ChannelOpened, m.ssh.channels, 1},
		{"limit", func() { ssh.LimitHit(LimitChannelsTotal) }, m.ssh.limits[LimitChannelsTotal], 1},
		{"tunnel opened", typ.Opened, typ.opened, 1},
		{"tunnel open now", func() {}, typ.current, 1},
		{"tunnel closed", typ.Closed, typ.closed, 1},
		{"tunnel open after close", func() {}, typ.current, 0},
		{"request", typ.Request, typ.requests, 1},
		{"bytes in", func() { typ.In(10) }, typ.in, 10},
		{"bytes in ignores 0", func() { typ.In(0) }, typ.in, 10},
		{"bytes out", func() { typ.Out(7) }, typ.out, 7},
		{"401 is 4xx", func() { typ.Response(401, time.Millisecond, 0) }, typ.class[3], 1},
		{"status 0 is no class", func() { typ.Response(0, time.Millisecond, 0) }, typ.class[3], 1},
		{"200 is 2xx", func() { typ.Response(200, time.Millisecond, 0) }, typ.class[1], 1},
		{"call", func() { call.Done(time.Now(), nil) }, call.calls, 1},
		{"call error", func() { call.Done(time.Now(), errors.New("down")) }, call.errors, 1},
		{"calls after error", func() {}, call.calls, 2},
		{"restart", func() { m.PluginRestarted("basicauth") }, m.pluginRestarts, 1},
		{"cache hit", func() { m.CacheHits("basicauth").Hit() }, m.cacheHits, 1},
		{"cert expiry", func() { m.CertExpiry("app.localhost", time.Unix(1900000000, 0)) }, m.certExpiry, 1900000000},
	}
	for _, tt := range tests {
		tt.do()
		if got := testutil.ToFloat64(tt.c); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
	if got := testutil.CollectAndCount(m.httpDuration); got != 1 {
		t.Errorf("duration histograms: %d series, want 1", got)
	}
	// None of the three answers above was forwarded: they observe the
	// edge's part only. A forwarded one observes upstream time too.
	if got := observations(t, m, "sshgress_http_upstream_duration_seconds"); got != 0 {
		t.Errorf("upstream observations before any forwarded answer: %d, want 0", got)
	}
	typ.Response(200, 10*time.Millisecond, 8*time.Millisecond)
	if got := observations(t, m, "sshgress_http_upstream_duration_seconds"); got != 1 {
		t.Errorf("upstream observations after a forwarded answer: %d, want 1", got)
	}
	if got := observations(t, m, "sshgress_http_edge_duration_seconds"); got != 4 {
		t.Errorf("edge observations: %d, want 4", got)
	}
	if got := m.Type("http"); got != typ {
		t.Error("Type(http) twice: two sets of counters, want the same one")
	}
}

// observations is the sample count of histogram family name, summed.
func observations(t *testing.T, m *Metrics, name string) uint64 {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, f := range fams {
		if f.GetName() == name {
			for _, s := range f.Metric {
				n += s.GetHistogram().GetSampleCount()
			}
		}
	}
	return n
}

// TestNilCountsNothing: every part is safe on nil.
func TestNilCountsNothing(t *testing.T) {
	var m *Metrics
	m.SSH().Accepted()
	m.SSH().Refused(RefusedTotal)
	m.SSH().LimitHit(LimitTunnelsPerAccount)
	m.Type("http").Response(200, time.Second, 0)
	m.Type("http").In(3)
	m.Call("p", "check").Done(time.Now(), nil)
	m.CacheHits("p").Hit()
	m.PluginRestarted("p")
	m.CertExpiry("x", time.Now())
}

// TestCertSeriesCapped: past MaxCertSeries names, new names get no series.
func TestCertSeriesCapped(t *testing.T) {
	m := New(Options{})
	for i := range MaxCertSeries + 10 {
		m.CertExpiry(strings.Repeat("a", 1+i%7)+string(rune('a'+i%26))+"-"+time.Duration(i).String()+".test", time.Now())
	}
	if got := testutil.CollectAndCount(m.certExpiry); got != MaxCertSeries {
		t.Errorf("%d certificate series, want the cap %d", got, MaxCertSeries)
	}
}

// TestExpositionLints serves the registry and runs promlint (the checks
// `promtool check metrics` runs) over it.
func TestExpositionLints(t *testing.T) {
	m := New(Options{})
	m.Type("http").Response(200, time.Millisecond, 0)
	m.Call("basicauth", "check").Done(time.Now(), nil)
	m.CertExpiry("app.localhost", time.Now())
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	problems, err := promlint.New(strings.NewReader(rec.Body.String())).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	for _, want := range []string{"sshgress_http_requests_total{class=\"2xx\",type=\"http\"} 1", "go_goroutines", "process_start_time_seconds"} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("exposition lacks %q", want)
		}
	}
}

// TestHotPathDoesNotAllocate: what a request and its bytes touch
// allocates nothing.
func TestHotPathDoesNotAllocate(t *testing.T) {
	typ := New(Options{}).Type("http")
	if n := testing.AllocsPerRun(1000, func() {
		typ.Request()
		typ.In(512)
		typ.Out(4096)
		typ.Response(200, time.Millisecond, 0)
	}); n != 0 {
		t.Errorf("%v allocations per request, want 0", n)
	}
}

// BenchmarkRequestPath is one request's counting: request, bytes both
// ways, status class and duration.
func BenchmarkRequestPath(b *testing.B) {
	typ := New(Options{}).Type("http")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			typ.Request()
			typ.In(512)
			typ.Out(4096)
			typ.Response(200, time.Millisecond, 0)
		}
	})
}
