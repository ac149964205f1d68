package core

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/sshgress/sshgress/core/admin"
	"github.com/sshgress/sshgress/core/metrics"
)

// listenerHealth is what /readyz knows of the listeners: whether Start
// has run, and which of them stopped serving since.
type listenerHealth struct {
	started atomic.Bool
	mu      sync.Mutex
	down    []string
}

func (h *listenerHealth) stopped(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !slices.Contains(h.down, name) {
		h.down = append(h.down, name)
	}
}

func (h *listenerHealth) isDown(name string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Contains(h.down, name)
}

// readiness is /readyz's checks: every listener bound and serving, every
// enabled plugin running and answering, the store answering. Each is
// bounded by ctx.
func (e *Edge) readiness(ctx context.Context) []admin.Check {
	var out []admin.Check
	listener := func(name string, bound bool) {
		c := admin.Check{Name: "listener " + name, OK: true, State: "serving"}
		switch {
		case !bound:
			c.OK, c.State = false, "not bound"
		case !e.health.started.Load():
			c.OK, c.State = false, "not serving yet"
		case e.health.isDown(name):
			c.OK, c.State = false, "stopped"
		}
		out = append(out, c)
	}
	listener("ssh", e.sshLn != nil)
	listener("http", e.httpLn != nil)
	if e.cfg.HTTPS.Addr != "" {
		listener("https", e.httpsLn != nil)
	}
	for _, p := range e.plugins.Status(ctx) {
		out = append(out, admin.Check{Name: "plugin " + p.Name, OK: p.Up, State: p.State, Restarts: p.Restarts})
	}
	store := admin.Check{Name: "store", OK: true, State: "answering"}
	if _, err := e.store.kv.Revision(ctx); err != nil {
		store.OK, store.State = false, "not answering"
		e.log.Warn("readiness: the store did not answer", "err", err)
	}
	return append(out, store)
}

// Metrics are the edge's Prometheus collectors (served at /metrics on
// the admin listener).
func (e *Edge) Metrics() *metrics.Metrics { return e.metrics }
