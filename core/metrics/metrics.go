// Package metrics holds the edge's Prometheus collectors (names prefixed
// sshgress_) on a registry of its own, and hands the packages that count
// small pre-bound pieces of it: an *SSH for the SSH server, a *Type per
// endpoint type for the tunnels' hot paths, a *Call per plugin method.
// Nothing outside this package touches the registry.
//
// Hot-path rule: what a request or a byte touches is a counter resolved
// once (WithLabelValues at bind or start) and then only added to — one
// atomic operation, no allocation, no shared lock. Label values are
// bounded: endpoint types and plugins come from the config, reasons and
// limits are constants of this package, status classes are five. No
// series is per tunnel, per account or per visitor.
//
// Every method is safe on a nil receiver and counts nothing, so tests and
// embedders that build parts of the edge without metrics need no stub.
package metrics

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// namespace prefixes every metric of the edge.
const namespace = "sshgress"

// Reasons an SSH connection is refused (label reason of
// sshgress_ssh_connections_refused_total).
const (
	RefusedPenalty   = "penalty_box"         // the source failed too often
	RefusedPerSource = "unauth_per_source"   // limits.unauth_per_source
	RefusedTotal     = "unauth_total"        // limits.unauth_total
	RefusedHandshake = "handshake_failed"    // version, key exchange or authentication failed
	RefusedShutdown  = "shutting_down"       // the edge is stopping
	RefusedAccount   = "account_unavailable" // the key's account went away during the handshake
)

// Limits whose hits are counted (label limit of sshgress_limit_hits_total).
const (
	LimitTunnelsPerAccount = "tunnels_per_account"
	LimitChannelsPerConn   = "channels_per_conn"
	LimitChannelsTotal     = "channels_total"
	LimitUnauthPerSource   = RefusedPerSource
	LimitUnauthTotal       = RefusedTotal
	LimitPenaltyBox        = RefusedPenalty
)

// Metrics is the edge's set of collectors on its own registry.
type Metrics struct {
	reg *prometheus.Registry

	ssh SSH

	tunnelsOpened, tunnelsClosed           *prometheus.CounterVec
	tunnelsCurrent                         *prometheus.GaugeVec
	requests, bytesIn, bytesOut            *prometheus.CounterVec
	httpRequests                           *prometheus.CounterVec
	httpDuration, edgeDuration, upDuration *prometheus.HistogramVec

	pluginCalls, pluginErrors, pluginRestarts, cacheHits *prometheus.CounterVec
	pluginDuration                                       *prometheus.HistogramVec

	certExpiry *prometheus.GaugeVec

	eventsDropped *prometheus.CounterVec

	mu    sync.Mutex
	types map[string]*Type
	certs map[string]int64 // name → the expiry last set
}

// MaxCertSeries caps the names sshgress_certificate_expiry_timestamp_seconds
// has a series for; certificates beyond it are not shown (cardinality is
// the operator's cost).
const MaxCertSeries = 1000

// New returns the edge's metrics, with the Go runtime and process
// collectors registered beside them.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), types: map[string]*Type{}, certs: map[string]int64{}}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, labels)
		m.reg.MustRegister(v)
		return v
	}
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help}, labels)
		m.reg.MustRegister(v)
		return v
	}
	histogram := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: name, Help: help, Buckets: buckets}, labels)
		m.reg.MustRegister(v)
		return v
	}

	sshCurrent := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "ssh_connections",
		Help: "SSH connections open now (authenticated or not)."})
	m.reg.MustRegister(sshCurrent)
	accepted := counter("ssh_connections_accepted_total", "SSH connections accepted (TCP connections let through to the handshake).")
	refused := counter("ssh_connections_refused_total", "SSH connections refused or failed before a user was logged in, by reason.", "reason")
	auth := counter("ssh_authentications_total", "SSH logins by result: ok (the connection serves an account) or failed.", "result")
	channels := counter("forwarded_channels_opened_total", "forwarded-tcpip channels the edge opened to users' ssh clients.")
	limits := counter("limit_hits_total", "Times a configured limit refused something, by limit.", "limit")
	m.ssh = SSH{current: sshCurrent, accepted: accepted.WithLabelValues(),
		refused: map[string]prometheus.Counter{}, limits: map[string]prometheus.Counter{}}
	for _, r := range []string{RefusedPenalty, RefusedPerSource, RefusedTotal, RefusedHandshake, RefusedShutdown, RefusedAccount} {
		m.ssh.refused[r] = refused.WithLabelValues(r)
	}
	m.ssh.authOK, m.ssh.authFailed = auth.WithLabelValues("ok"), auth.WithLabelValues("failed")
	m.ssh.channels = channels.WithLabelValues()
	for _, l := range []string{LimitTunnelsPerAccount, LimitChannelsPerConn, LimitChannelsTotal, LimitUnauthPerSource, LimitUnauthTotal, LimitPenaltyBox} {
		m.ssh.limits[l] = limits.WithLabelValues(l)
	}

	m.tunnelsCurrent = gauge("tunnels", "Tunnels open now, by endpoint type.", "type")
	m.tunnelsOpened = counter("tunnels_opened_total", "Tunnels opened, by endpoint type.", "type")
	m.tunnelsClosed = counter("tunnels_closed_total", "Tunnels closed, by endpoint type.", "type")
	m.requests = counter("visitor_requests_total", "Visitor requests (http) or connections (tcp, tls and other plugin types) that reached a tunnel, by endpoint type.", "type")
	m.bytesIn = counter("tunnel_received_bytes_total", "Bytes carried from visitors to users' services, by endpoint type.", "type")
	m.bytesOut = counter("tunnel_sent_bytes_total", "Bytes carried from users' services to visitors, by endpoint type.", "type")
	m.httpRequests = counter("http_requests_total", "HTTP requests answered on a tunnel's host, by endpoint type and status class (1xx … 5xx).", "type", "class")
	m.httpDuration = histogram("http_request_duration_seconds", "Time from a tunnel's request head to the end of its answer, middleware and upstream included.",
		prometheus.DefBuckets, "type")
	m.edgeDuration = histogram("http_edge_duration_seconds", "The edge's own part of a tunnel's request (routing, middleware, writing the answer): the whole time minus the upstream's.",
		[]float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}, "type")
	m.upDuration = histogram("http_upstream_duration_seconds", "Time the user's service took through the tunnel, from dialling it to the end of its answer; only for requests forwarded to it.",
		prometheus.DefBuckets, "type")

	m.pluginCalls = counter("plugin_calls_total", "Calls the edge made to plugins, by plugin and method.", "plugin", "method")
	m.pluginErrors = counter("plugin_call_errors_total", "Plugin calls that failed (error, deadline, nonsense answer), by plugin and method.", "plugin", "method")
	m.pluginDuration = histogram("plugin_call_duration_seconds", "Latency of plugin calls, by plugin and method.",
		[]float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}, "plugin", "method")
	m.cacheHits = counter("plugin_verdict_cache_hits_total", "Middleware verdicts answered from the edge's verdict cache instead of a plugin call, by plugin.", "plugin")
	m.pluginRestarts = counter("plugin_restarts_total", "Times a plugin process was restarted after it exited, by plugin.", "plugin")

	m.eventsDropped = counter("events_dropped_total", "Events (tunnel, auth, plugin) a subscriber lost, by sink (webhook, stream) and reason (queue_full, undeliverable).", "sink", "reason")
	m.certExpiry = gauge("certificate_expiry_timestamp_seconds", "When the certificate the edge holds for a name expires (Unix time), by name; at most MaxCertSeries names.", "name")
	return m
}

// Handler serves the registry in Prometheus' text format (GET /metrics).
// A failing collector is logged by the caller's error log, not served.
// Nil for a nil *Metrics (the metrics are turned off).
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return nil
	}
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, MaxRequestsInFlight: 4, Timeout: 10 * time.Second})
}

// Registry is the registry itself, for tests that gather it.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// SSH is the SSH server's part; nil counts nothing.
func (m *Metrics) SSH() *SSH {
	if m == nil {
		return nil
	}
	return &m.ssh
}

// Type returns the pre-bound counters of an endpoint type, made on first
// use (a bind, never a request). Nil for a nil *Metrics.
func (m *Metrics) Type(name string) *Type {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if t := m.types[name]; t != nil {
		return t
	}
	t := &Type{
		current:  m.tunnelsCurrent.WithLabelValues(name),
		opened:   m.tunnelsOpened.WithLabelValues(name),
		closed:   m.tunnelsClosed.WithLabelValues(name),
		requests: m.requests.WithLabelValues(name),
		in:       m.bytesIn.WithLabelValues(name),
		out:      m.bytesOut.WithLabelValues(name),
		duration: m.httpDuration.WithLabelValues(name),
		edge:     m.edgeDuration.WithLabelValues(name),
		upstream: m.upDuration.WithLabelValues(name),
	}
	for i := range t.class {
		t.class[i] = m.httpRequests.WithLabelValues(name, classNames[i])
	}
	m.types[name] = t
	return t
}

// Call returns the pre-bound counters of one plugin method ("check",
// "open_tunnel", ...), resolved once where the plugin starts. Nil for a
// nil *Metrics.
func (m *Metrics) Call(plugin, method string) *Call {
	if m == nil {
		return nil
	}
	return &Call{
		calls:    m.pluginCalls.WithLabelValues(plugin, method),
		errors:   m.pluginErrors.WithLabelValues(plugin, method),
		duration: m.pluginDuration.WithLabelValues(plugin, method),
	}
}

// CacheHits returns plugin's pre-bound verdict-cache hit counter; nil
// for a nil *Metrics.
func (m *Metrics) CacheHits(plugin string) *Hits {
	if m == nil {
		return nil
	}
	return &Hits{c: m.cacheHits.WithLabelValues(plugin)}
}

// PluginRestarted counts one restart of plugin.
func (m *Metrics) PluginRestarted(plugin string) {
	if m != nil {
		m.pluginRestarts.WithLabelValues(plugin).Inc()
	}
}

// CertExpiry records when the certificate served for name expires; it is
// called per TLS handshake, so an unchanged value costs one map look-up.
// Names past MaxCertSeries are dropped.
func (m *Metrics) CertExpiry(name string, notAfter time.Time) {
	if m == nil {
		return
	}
	at := notAfter.Unix()
	m.mu.Lock()
	defer m.mu.Unlock()
	last, known := m.certs[name]
	switch {
	case known && last == at:
		return
	case !known && len(m.certs) >= MaxCertSeries:
		return
	}
	m.certs[name] = at
	m.certExpiry.WithLabelValues(name).Set(float64(at))
}

// EventsDropped returns the pre-bound counter of events a sink ("webhook",
// "stream") dropped for reason ("queue_full", "undeliverable"), as a
// function that adds one; a no-op for a nil *Metrics.
func (m *Metrics) EventsDropped(sink, reason string) func() {
	if m == nil {
		return func() {}
	}
	return m.eventsDropped.WithLabelValues(sink, reason).Inc
}
