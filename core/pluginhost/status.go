package pluginhost

import (
	"context"
	"sync"
	"time"
)

// probeTimeout bounds each plugin's answer to a readiness probe.
const probeTimeout = time.Second

// PluginState is one enabled plugin as the readiness probe and
// `sshgress status` see it.
type PluginState struct {
	// Name is the plugin's name.
	Name string `json:"name"`
	// Up reports that a process runs and answered the probe in time.
	Up bool `json:"up"`
	// State says it in a word: "up", "restarting" (no process: it exited
	// and the host is starting a new one) or "not answering".
	State string `json:"state"`
	// Restarts counts the restarts since the edge started.
	Restarts int64 `json:"restarts"`
}

// Status probes every enabled plugin at once, each bounded by
// probeTimeout and ctx: a running process must answer Describe. It is
// sorted by name; empty when no plugin is enabled.
func (h *Host) Status(ctx context.Context) []PluginState {
	if h == nil {
		return nil
	}
	out := make([]PluginState, len(h.names))
	var wg sync.WaitGroup
	for i, name := range h.names {
		p := h.plugins[name]
		wg.Go(func() { out[i] = p.probe(ctx) })
	}
	wg.Wait()
	return out
}

// probe asks the running instance for its manifest, the cheapest call
// every plugin answers.
func (p *proc) probe(ctx context.Context) PluginState {
	st := PluginState{Name: p.spec.Name, State: "restarting", Restarts: p.restarts.Load()}
	inst := p.cur.Load()
	if inst == nil {
		return st
	}
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	if _, err := inst.rpc.Describe(pctx); err != nil {
		st.State = "not answering"
		return st
	}
	st.Up, st.State = true, "up"
	return st
}
