package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// SSH is the SSH server's pre-bound counters. Its methods are safe on nil.
type SSH struct {
	current    prometheus.Gauge
	accepted   prometheus.Counter
	refused    map[string]prometheus.Counter // fixed after New
	authOK     prometheus.Counter
	authFailed prometheus.Counter
	channels   prometheus.Counter
	limits     map[string]prometheus.Counter // fixed after New
}

// Accepted counts a TCP connection let through to the handshake; it is
// open until Closed.
func (s *SSH) Accepted() {
	if s != nil {
		s.accepted.Inc()
		s.current.Inc()
	}
}

// Closed counts an accepted connection's end.
func (s *SSH) Closed() {
	if s != nil {
		s.current.Dec()
	}
}

// Refused counts a connection refused or failed before login, by one of
// the Refused… reasons.
func (s *SSH) Refused(reason string) {
	if s != nil {
		if c := s.refused[reason]; c != nil {
			c.Inc()
		}
	}
}

// Auth counts a login that succeeded or failed.
func (s *SSH) Auth(ok bool) {
	if s == nil {
		return
	}
	if ok {
		s.authOK.Inc()
	} else {
		s.authFailed.Inc()
	}
}

// ChannelOpened counts a forwarded-tcpip channel the edge opened.
func (s *SSH) ChannelOpened() {
	if s != nil {
		s.channels.Inc()
	}
}

// LimitHit counts one refusal by one of the Limit… limits.
func (s *SSH) LimitHit(limit string) {
	if s != nil {
		if c := s.limits[limit]; c != nil {
			c.Inc()
		}
	}
}

// classNames are the values of label class, indexed by status/100 - 1.
var classNames = [5]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

// Type is one endpoint type's pre-bound counters: a tunnel of that type
// feeds them from its hot path (core/tunnel.Stats). Its methods are safe
// on nil and never allocate or lock.
type Type struct {
	current  prometheus.Gauge
	opened   prometheus.Counter
	closed   prometheus.Counter
	requests prometheus.Counter
	in, out  prometheus.Counter
	class    [5]prometheus.Counter
	duration prometheus.Observer // the whole answer
	edge     prometheus.Observer // the edge's part: total - upstream
	upstream prometheus.Observer // the user's service's part, when forwarded
}

// Opened counts a tunnel of this type opening; it is open until Closed.
func (t *Type) Opened() {
	if t != nil {
		t.opened.Inc()
		t.current.Inc()
	}
}

// Closed counts a tunnel of this type closing.
func (t *Type) Closed() {
	if t != nil {
		t.closed.Inc()
		t.current.Dec()
	}
}

// Request counts one visitor request or connection.
func (t *Type) Request() {
	if t != nil {
		t.requests.Inc()
	}
}

// In counts n bytes toward users' services.
func (t *Type) In(n int) {
	if t != nil && n > 0 {
		t.in.Add(float64(n))
	}
}

// Out counts n bytes toward visitors.
func (t *Type) Out(n int) {
	if t != nil && n > 0 {
		t.out.Add(float64(n))
	}
}

// Response counts one HTTP answer with its status, how long it took in
// all, and the upstream's part of that (0: the edge answered itself, and
// no upstream time is observed). A status outside 100–599 (0: the visitor
// went away unanswered) counts only its durations.
func (t *Type) Response(status int, total, upstream time.Duration) {
	if t == nil {
		return
	}
	if i := status/100 - 1; i >= 0 && i < len(t.class) {
		t.class[i].Inc()
	}
	t.duration.Observe(total.Seconds())
	t.edge.Observe(max(total-upstream, 0).Seconds())
	if upstream > 0 {
		t.upstream.Observe(upstream.Seconds())
	}
}

// Call is one plugin method's pre-bound counters. Safe on nil.
type Call struct {
	calls, errors prometheus.Counter
	duration      prometheus.Observer
}

// Done counts one call that started at start and ended with err.
func (c *Call) Done(start time.Time, err error) {
	if c == nil {
		return
	}
	c.calls.Inc()
	if err != nil {
		c.errors.Inc()
	}
	c.duration.Observe(time.Since(start).Seconds())
}

// Hits is one plugin's verdict-cache hit counter. Safe on nil.
type Hits struct{ c prometheus.Counter }

// Hit counts one verdict answered from the cache.
func (h *Hits) Hit() {
	if h != nil {
		h.c.Inc()
	}
}
