package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// MaxPerTunnel bounds metrics.per_tunnel: the most tunnels that may have
// series of their own at once.
const MaxPerTunnel = 10000

// perTunnel holds the opt-in per-tunnel series (metrics.per_tunnel) and
// the count of tunnels holding them now, against the cap.
type perTunnel struct {
	max int

	requests, in, out *prometheus.CounterVec
	classes           *prometheus.CounterVec
	info              *prometheus.GaugeVec
	over              prometheus.Counter

	mu   sync.Mutex
	live int
}

// newPerTunnel registers the per-tunnel series on m's registry; max 0
// registers only the counter of tunnels left without series.
func (m *Metrics) newPerTunnel(max int) {
	p := &perTunnel{max: min(max, MaxPerTunnel)}
	p.over = prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "per_tunnel_series_refused_total",
		Help: "Tunnels opened while metrics.per_tunnel tunnels already had series of their own, so they got none."})
	m.reg.MustRegister(p.over)
	if p.max > 0 {
		labels := []string{"tunnel", "account"}
		vec := func(name, help string, extra ...string) *prometheus.CounterVec {
			v := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, append(labels, extra...))
			m.reg.MustRegister(v)
			return v
		}
		p.requests = vec("per_tunnel_requests_total", "Visitor requests (http) or connections (tcp, tls) of one tunnel; only with metrics.per_tunnel.")
		p.in = vec("per_tunnel_received_bytes_total", "Bytes from visitors to one tunnel's service; only with metrics.per_tunnel.")
		p.out = vec("per_tunnel_sent_bytes_total", "Bytes from one tunnel's service to visitors; only with metrics.per_tunnel.")
		p.classes = vec("per_tunnel_http_requests_total", "HTTP answers of one tunnel by status class; only with metrics.per_tunnel.", "class")
		p.info = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "per_tunnel_info",
			Help: "Always 1: what a tunnel with series of its own is (its type and public URL), to join on tunnel; only with metrics.per_tunnel."},
			append(labels, "type", "url"))
		m.reg.MustRegister(p.info)
	}
	m.tunnels = p
}

// Tunnel is one tunnel's meter when it has series of its own: it feeds
// its endpoint type's counters and its own, with pre-bound counters (no
// allocation, no shared lock per request). Safe on nil.
type Tunnel struct {
	p        *perTunnel
	typ      *Type
	id, acct string
	kind     string
	url      string

	requests, in, out prometheus.Counter
	class             [5]prometheus.Counter
	releaseOnce       sync.Once
}

// Tunnel returns a meter for the tunnel id of account that feeds typ and
// series labelled by the tunnel's id and account, or nil when
// metrics.per_tunnel is 0 or that many tunnels have series already (the
// tunnel then counts only into typ). Release frees the slot and deletes
// the series when the tunnel closes.
func (m *Metrics) Tunnel(id, account string, typ *Type) *Tunnel {
	if m == nil || m.tunnels == nil {
		return nil
	}
	p := m.tunnels
	if p.max == 0 {
		return nil
	}
	p.mu.Lock()
	if p.live >= p.max {
		p.mu.Unlock()
		p.over.Inc()
		return nil
	}
	p.live++
	p.mu.Unlock()
	t := &Tunnel{p: p, typ: typ, id: id, acct: account,
		requests: p.requests.WithLabelValues(id, account),
		in:       p.in.WithLabelValues(id, account),
		out:      p.out.WithLabelValues(id, account),
	}
	for i := range t.class {
		t.class[i] = p.classes.WithLabelValues(id, account, classNames[i])
	}
	return t
}

// Describe sets the tunnel's info series once its type and URL are known
// (after the bind).
func (t *Tunnel) Describe(kind, url string) {
	if t == nil {
		return
	}
	t.kind, t.url = kind, url
	t.p.info.WithLabelValues(t.id, t.acct, kind, url).Set(1)
}

// Release deletes the tunnel's series and frees its slot. It is
// idempotent.
func (t *Tunnel) Release() {
	if t == nil {
		return
	}
	t.releaseOnce.Do(func() {
		p := t.p
		for _, v := range []*prometheus.CounterVec{p.requests, p.in, p.out} {
			v.DeleteLabelValues(t.id, t.acct)
		}
		for _, c := range classNames {
			p.classes.DeleteLabelValues(t.id, t.acct, c)
		}
		if t.url != "" {
			p.info.DeleteLabelValues(t.id, t.acct, t.kind, t.url)
		}
		p.mu.Lock()
		p.live--
		p.mu.Unlock()
	})
}

// Request counts one visitor request or connection.
func (t *Tunnel) Request() {
	if t != nil {
		t.typ.Request()
		t.requests.Inc()
	}
}

// In counts n bytes toward the tunnel's service.
func (t *Tunnel) In(n int) {
	if t != nil && n > 0 {
		t.typ.In(n)
		t.in.Add(float64(n))
	}
}

// Out counts n bytes toward visitors.
func (t *Tunnel) Out(n int) {
	if t != nil && n > 0 {
		t.typ.Out(n)
		t.out.Add(float64(n))
	}
}

// Response counts one HTTP answer (see Type.Response); the tunnel's own
// series keep its status class only.
func (t *Tunnel) Response(status int, total, upstream time.Duration) {
	if t == nil {
		return
	}
	t.typ.Response(status, total, upstream)
	if i := status/100 - 1; i >= 0 && i < len(t.class) {
		t.class[i].Inc()
	}
}
