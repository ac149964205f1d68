package pluginhost

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/sshgress/sshgress/core/events"
	"github.com/sshgress/sshgress/core/metrics"
	"github.com/sshgress/sshgress/sdk"
	"github.com/sshgress/sshgress/sdk/host"
)

const (
	// maxReplyBytes bounds a plugin's gRPC reply (a 64 KiB body plus
	// headers fits easily).
	maxReplyBytes = 1 << 20
	// stableUptime is how long a plugin must stay up before its restart
	// backoff starts from zero again.
	stableUptime = 30 * time.Second
	// firstBackoff and maxBackoff shape restart delays: immediately, then
	// 100 ms, 200 ms, 400 ms ... up to 5 s.
	firstBackoff = 100 * time.Millisecond
	maxBackoff   = 5 * time.Second
)

// errPluginDown is returned while a plugin is being restarted.
var errPluginDown = errors.New("plugin is down, restarting")

// proc is one enabled plugin across its restarts.
type proc struct {
	host     *Host
	spec     Spec
	sum      []byte // sha256 of a third-party executable
	dataDir  string
	logger   *slog.Logger
	manifest sdk.Manifest // set once by Start
	served   []string     // normalised hosts from Configure's answer, set once by Start

	// cur is the running instance; nil while the plugin is down. Changes
	// happen with mu held; Check reads it without the lock.
	cur atomic.Pointer[instance]
	// gen counts crashes; cached verdicts of an older generation are void.
	gen atomic.Uint64

	mu      sync.Mutex
	tunnels map[string]*openTunnel // open tunnels, replayed after a restart

	meters   procMeters
	restarts atomic.Int64 // successful restarts, for Host.Status
}

// procMeters are a plugin's pre-bound metrics (nil ones count nothing).
type procMeters struct {
	check, open, close, bind *metrics.Call
	review                   *metrics.Call
	cacheHits                *metrics.Hits
}

// openTunnel is a tunnel open in a plugin, with its owner's notify line.
type openTunnel struct {
	t      sdk.Tunnel
	notify func(string)
}

// instance is one running plugin process.
type instance struct {
	client *plugin.Client
	rpc    *host.Client
	pid    int
}

// command returns the command that runs the plugin, checking a third-party
// executable's sha256 first.
func (p *proc) command() (*exec.Cmd, error) {
	if p.spec.Path == "" {
		cmd := p.host.opts.Bundled(p.spec.Name)
		if cmd == nil {
			return nil, errors.New("start: Options.Bundled returned no command")
		}
		return cmd, nil
	}
	if err := verifyChecksum(p.spec.Path, p.sum); err != nil {
		return nil, err
	}
	return exec.Command(p.spec.Path), nil
}

// launch starts a plugin process and connects to it.
func (p *proc) launch() (*instance, error) {
	cmd, err := p.command()
	if err != nil {
		return nil, err
	}
	setParentDeathSignal(cmd)
	cfg := &plugin.ClientConfig{
		HandshakeConfig:  host.Handshake(),
		Plugins:          host.PluginSet(),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		SkipHostEnv:      true,
		StartTimeout:     p.host.opts.StartTimeout,
		Logger:           newHCLogger(p.logger),
		SyncStdout:       &lineLogger{l: p.logger, level: slog.LevelInfo, msg: "plugin stdout"},
		SyncStderr:       &lineLogger{l: p.logger, level: slog.LevelInfo, msg: "plugin stderr"},
		GRPCDialOptions: []grpc.DialOption{
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxReplyBytes)),
		},
	}
	if p.sum != nil {
		cfg.SecureConfig = &plugin.SecureConfig{Checksum: p.sum, Hash: sha256.New()}
	}
	client := plugin.NewClient(cfg)
	proto, err := client.Client()
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("start: %w", err)
	}
	raw, err := proto.Dispense(host.PluginKey)
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("start: %w", err)
	}
	rpc, ok := raw.(*host.Client)
	if !ok {
		client.Kill()
		return nil, fmt.Errorf("start: dispensed %T, want *host.Client", raw)
	}
	inst := &instance{client: client, rpc: rpc}
	if rc := client.ReattachConfig(); rc != nil {
		inst.pid = rc.Pid
	}
	return inst, nil
}

// launchAndConfigure starts a process, checks its manifest and configures
// it. On error nothing is left running.
func (p *proc) launchAndConfigure(ctx context.Context) (_ *instance, _ sdk.Manifest, _ []string, err error) {
	inst, err := p.launch()
	if err != nil {
		return nil, sdk.Manifest{}, nil, err
	}
	defer func() {
		if err != nil {
			inst.client.Kill()
		}
	}()
	timeout := p.host.opts.SetupTimeout
	dctx, cancel := context.WithTimeout(ctx, timeout)
	m, err := inst.rpc.Describe(dctx)
	cancel()
	if err != nil {
		return nil, sdk.Manifest{}, nil, err
	}
	if err := m.Validate(); err != nil {
		return nil, sdk.Manifest{}, nil, err
	}
	if m.Name != p.spec.Name {
		return nil, sdk.Manifest{}, nil, fmt.Errorf("its manifest names it %q", m.Name)
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	res, err := inst.rpc.ConfigureResult(cctx, sdk.Config{
		Section:    p.spec.Config,
		BaseDomain: p.host.opts.BaseDomain,
		DataDir:    p.dataDir,
	})
	cancel()
	if err != nil {
		if _, ok := sdk.AsUserError(err); ok {
			err = fmt.Errorf("configure: %w", err)
		}
		return nil, sdk.Manifest{}, nil, err
	}
	served, err := servedHosts(m, res.ServedHosts)
	if err != nil {
		return nil, sdk.Manifest{}, nil, err
	}
	return inst, m, served, nil
}

// supervise waits for the running instance to exit and restarts it with
// backoff until ctx is cancelled.
func (p *proc) supervise(ctx context.Context) {
	failures := 0
	for {
		inst := p.cur.Load()
		upSince := time.Now()
		select {
		case <-ctx.Done():
			return
		case <-inst.rpc.Done():
		}
		if ctx.Err() != nil {
			return
		}
		p.crashed(inst)
		if time.Since(upSince) >= stableUptime {
			failures = 0
		}
		for {
			if !sleep(ctx, backoff(failures)) {
				return
			}
			failures++
			err := p.restart(ctx)
			if err == nil {
				n := p.restarts.Add(1)
				p.host.opts.Metrics.PluginRestarted(p.spec.Name)
				p.host.opts.Events.Publish(events.Event{Type: events.PluginRestarted, Plugin: p.spec.Name, Restarts: n})
				break
			}
			if ctx.Err() != nil {
				return
			}
			p.logger.Error("plugin restart failed", "attempt", failures, "error", err)
		}
	}
}

// backoff returns the delay before restart attempt n (0-based).
func backoff(n int) time.Duration {
	if n <= 0 {
		return 0
	}
	d := firstBackoff
	for i := 1; i < n && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

// sleep waits d or until ctx is done; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// crashed marks the plugin down, voids its cached verdicts, reaps the old
// process and tells the affected tunnels' owners.
func (p *proc) crashed(inst *instance) {
	p.mu.Lock()
	p.cur.CompareAndSwap(inst, nil)
	p.gen.Add(1)
	owners := p.notifiersLocked()
	open := len(p.tunnels)
	p.mu.Unlock()
	p.logger.Error("plugin process exited; restarting it", "pid", inst.pid, "open_tunnels", len(owners))
	p.host.opts.Events.Publish(events.Event{Type: events.PluginCrashed, Plugin: p.spec.Name, OpenTunnels: open})
	inst.client.Kill()
	for _, notify := range owners {
		notify(p.spec.Name + " plugin stopped; visitors get 503 until it is back")
	}
}

func (p *proc) notifiersLocked() []func(string) {
	out := make([]func(string), 0, len(p.tunnels))
	for _, ot := range p.tunnels {
		if ot.notify != nil {
			out = append(out, ot.notify)
		}
	}
	return out
}

// restart starts a new instance, configures it, replays the open tunnels
// into it and makes it current.
func (p *proc) restart(ctx context.Context) error {
	inst, m, served, err := p.launchAndConfigure(ctx)
	if err != nil {
		return err
	}
	if !reflect.DeepEqual(m, p.manifest) {
		inst.client.Kill()
		return errors.New("its manifest changed since the edge started; restart the edge")
	}
	if !slices.Equal(served, p.served) {
		inst.client.Kill()
		return errors.New("the hosts it serves changed since the edge started; restart the edge")
	}
	p.mu.Lock()
	snapshot := make(map[string]*openTunnel, len(p.tunnels))
	for id, ot := range p.tunnels {
		snapshot[id] = ot
	}
	p.mu.Unlock()

	failed := make(map[string]bool)
	for _, id := range slices.Sorted(mapKeys(snapshot)) {
		ot := snapshot[id]
		octx, cancel := context.WithTimeout(ctx, p.host.opts.SetupTimeout)
		_, err := inst.rpc.OpenTunnel(octx, ot.t)
		cancel()
		if err != nil {
			failed[id] = true
			p.logger.Warn("plugin did not reopen a tunnel after its restart; its requests get 503", "tunnel", id, "error", err)
			if ot.notify != nil {
				ot.notify(p.spec.Name + " plugin restarted but could not reopen this tunnel; visitors get 503")
			}
		}
	}

	p.mu.Lock()
	if ctx.Err() != nil {
		p.mu.Unlock()
		inst.client.Kill()
		return ctx.Err()
	}
	var stale []string
	for id, ot := range snapshot {
		if p.tunnels[id] != ot {
			stale = append(stale, id) // closed while we replayed
		}
	}
	var restored []func(string)
	for id, ot := range p.tunnels {
		if !failed[id] && ot.notify != nil {
			restored = append(restored, ot.notify)
		}
	}
	p.cur.Store(inst)
	p.mu.Unlock()

	for _, id := range stale {
		p.closeRemote(id)
	}
	p.logger.Info("plugin restarted", "pid", inst.pid, "tunnels_replayed", len(snapshot)-len(failed))
	for _, notify := range restored {
		notify(p.spec.Name + " plugin restarted; protection restored")
	}
	return nil
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// open opens t in the plugin and registers it for replay.
func (p *proc) open(ctx context.Context, t sdk.Tunnel, notify func(string)) (*openTunnel, sdk.OpenResult, error) {
	ot := &openTunnel{t: t, notify: notify}
	p.mu.Lock()
	inst := p.cur.Load()
	if inst == nil {
		p.mu.Unlock()
		return nil, sdk.OpenResult{}, errPluginDown
	}
	p.tunnels[t.ID] = ot
	p.mu.Unlock()

	octx, cancel := context.WithTimeout(ctx, p.host.opts.SetupTimeout)
	start := time.Now()
	res, err := inst.rpc.OpenTunnel(octx, t)
	p.meters.open.Done(start, err)
	cancel()
	if err != nil {
		p.forget(t.ID, ot)
		if _, refused := sdk.AsUserError(err); !refused {
			p.closeRemote(t.ID) // it may have opened before failing
		}
		return nil, sdk.OpenResult{}, err
	}
	return ot, res, nil
}

// close closes the tunnel ot in the plugin, if it is still the one
// registered under its ID.
func (p *proc) close(ot *openTunnel) {
	if p.forget(ot.t.ID, ot) {
		p.closeRemote(ot.t.ID)
	}
}

func (p *proc) forget(id string, ot *openTunnel) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tunnels[id] != ot {
		return false
	}
	delete(p.tunnels, id)
	return true
}

// closeRemote sends CloseTunnel to the running instance, if any.
func (p *proc) closeRemote(id string) {
	inst := p.cur.Load()
	if inst == nil {
		return // a restart replays only registered tunnels
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.host.opts.SetupTimeout)
	defer cancel()
	start := time.Now()
	err := inst.rpc.CloseTunnel(ctx, id)
	p.meters.close.Done(start, err)
	if err != nil {
		p.logger.Warn("plugin failed to close a tunnel", "tunnel", id, "error", err)
	}
}

// stop kills the running instance. Called by Host.Close after the
// supervisor has returned.
func (p *proc) stop() {
	p.mu.Lock()
	inst := p.cur.Swap(nil)
	p.mu.Unlock()
	if inst != nil {
		inst.client.Kill()
		p.logger.Info("plugin stopped", "pid", inst.pid)
	}
}
