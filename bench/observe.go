package main

import (
	"context"
	"fmt"
	"path/filepath"
)

// observeKeys are the observe rows, in the order they run.
var observeKeys = []string{"obs_off", "obs_metrics", "obs_access", "obs_inspect", "obs_all"}

// observeSetups are the edges of the observe rows, by figure key: the
// environment each edge runs with. Every switch is off for obs_off;
// obs_metrics turns the Prometheus metrics back on; obs_access and
// obs_inspect add the access log (to a file) or the inspector to them;
// obs_all is the edge as shipped (metrics, inspector) with its access log
// written to a file.
func (e *env) observeSetups() map[string][]string {
	const (
		metricsOff = "SSHGRESS_METRICS_ENABLED=false"
		metricsOn  = "SSHGRESS_METRICS_ENABLED=true"
		accessOff  = "SSHGRESS_LOG_ACCESS=off"
		inspectOff = "SSHGRESS_LIMITS_INSPECTOR_BYTES=0"
	)
	accessFile := func(key string) string { return "SSHGRESS_LOG_ACCESS=" + filepath.Join(e.dir, "access-"+key+".log") }
	return map[string][]string{
		"obs_off":     {metricsOff, accessOff, inspectOff},
		"obs_metrics": {metricsOn, accessOff, inspectOff},
		"obs_access":  {metricsOn, accessFile("obs_access"), inspectOff},
		"obs_inspect": {metricsOn, accessOff},
		"obs_all":     {metricsOn, accessFile("obs_all")},
	}
}

// startObserve starts one edge per observe row, each with an http tunnel
// to the backend (with a session, so the inspector records it where it
// is on). A row whose edge or tunnel fails gets a target carrying the
// error.
func (e *env) startObserve(ctx context.Context, bin string) map[string]*httpTarget {
	out := map[string]*httpTarget{}
	for key, env := range e.observeSetups() {
		ep, err := e.startEdge(ctx, "edge-"+key, bin, env, false)
		if err != nil {
			out[key] = &httpTarget{name: tGress, err: err}
			continue
		}
		g, err := e.startGressTunnel(ctx, "ssh-"+key, ep, "", "http")
		if err != nil {
			out[key] = &httpTarget{name: tGress, err: err}
			continue
		}
		out[key] = &httpTarget{name: tGress, base: fmt.Sprintf("http://127.0.0.1:%d", ep.httpPort), host: g.host, edge: ep.p.pid(), client: g.c.p.pid()}
	}
	return out
}
