// Package pluginhost runs the edge's plugins and puts them in front of
// tunnels.
//
// Start launches every enabled plugin as a child process through
// hashicorp/go-plugin (gRPC only, versioned handshake, AutoMTLS, an empty
// environment, a sha256 check for third-party executables, SIGKILL on the
// edge's death), asks each for its manifest, configures it and merges the
// manifests (one owner per flag). Open joins a tunnel's plugins into a Chain
// whose Check runs the HTTP middleware for each request.
//
// The host fails closed: a plugin that is down, late or answers nonsense
// makes Check return an error, and the caller answers 503. A supervisor
// restarts a crashed plugin with backoff, configures it again and replays
// the open tunnels into it, so tunnels survive the crash. Verdicts that
// carry a cache hint are cached per tunnel and plugin, keyed by a sha256 of
// the header values they depended on. Static rules a plugin returns from
// OpenTunnel (visitor CIDR and User-Agent allow/deny, sdk.StaticRules)
// are compiled into the chain when the tunnel opens and checked before
// any plugin is asked, with no call per request. Their header edits
// (sdk.HeaderEdits) are merged into the chain (Chain.HeaderEdits) for the
// HTTP edge to apply itself, also with no call.
package pluginhost

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sshgress/sshgress/core/events"
	"github.com/sshgress/sshgress/core/metrics"
	"github.com/sshgress/sshgress/sdk"
)

// Spec names one enabled plugin.
type Spec struct {
	// Name is the plugin's name; it must equal the name in the plugin's
	// manifest. For a bundled plugin it is also what Options.Bundled gets.
	Name string
	// Path is the executable of a third-party plugin; "" means bundled.
	Path string
	// SHA256 is the hex sha256 of the executable at Path, as printed by
	// sha256sum. Required with Path; the file is checked before every start,
	// restarts included. Must be empty for a bundled plugin.
	SHA256 string
	// Config is the plugin's section of the operator config, sent as JSON.
	// It may hold secrets: the host never logs it.
	Config map[string]any
}

// Options configures the host. The zero value works for third-party
// plugins; Bundled is required for bundled ones.
type Options struct {
	// Bundled returns a fresh, unstarted command that runs the bundled
	// plugin with the given name (e.g. `sshgress plugin basicauth`). It is
	// called on every start and restart. Required if any Spec has Path "".
	// The command's stdout must carry nothing but go-plugin's handshake.
	Bundled func(name string) *exec.Cmd
	// CallTimeout bounds each Check call to a plugin. Default 250 ms.
	CallTimeout time.Duration
	// SetupTimeout bounds Describe, Configure, OpenTunnel and CloseTunnel
	// calls. Default 5 s.
	SetupTimeout time.Duration
	// StartTimeout bounds starting a plugin process up to its handshake.
	// Default 10 s.
	StartTimeout time.Duration
	// Logger receives the host's records and every plugin's relayed log
	// lines (tagged plugin=NAME). Default: discard.
	Logger *slog.Logger
	// BaseDomain is the edge's base domain, passed to every plugin.
	BaseDomain string
	// DataDir is the edge's data directory. Each plugin is given
	// DataDir/plugins/NAME (created, mode 0700); "" gives plugins none.
	DataDir string
	// CacheEntries bounds the cached verdicts per tunnel and plugin.
	// Default 256.
	CacheEntries int
	// Metrics counts plugin calls, verdict-cache hits and restarts. Nil
	// counts nothing.
	Metrics *metrics.Metrics
	// Events receives plugin.crashed when a plugin process exits and
	// plugin.restarted when its replacement serves. Nil publishes nothing.
	Events *events.Bus
}

const (
	defaultCallTimeout  = 250 * time.Millisecond
	defaultSetupTimeout = 5 * time.Second
	defaultStartTimeout = 10 * time.Second
	defaultCacheEntries = 256
	// maxPlugins bounds the number of specs Start accepts.
	maxPlugins = 64
	// builtinCommand is the endpoint type the edge serves itself.
	builtinCommand = "http"
)

func (o *Options) setDefaults() {
	if o.CallTimeout <= 0 {
		o.CallTimeout = defaultCallTimeout
	}
	if o.SetupTimeout <= 0 {
		o.SetupTimeout = defaultSetupTimeout
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = defaultStartTimeout
	}
	if o.CacheEntries <= 0 {
		o.CacheEntries = defaultCacheEntries
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Host owns the running plugins. It is safe for concurrent use.
type Host struct {
	opts    Options
	logger  *slog.Logger
	plugins map[string]*proc // fixed after Start
	names   []string         // sorted

	ctx       context.Context // cancelled by Close
	cancel    context.CancelFunc
	wg        sync.WaitGroup // supervisors
	closeOnce sync.Once
	closed    atomic.Bool

	checkCalls atomic.Uint64
}

// Start launches every plugin, describes and configures it and merges the
// manifests. Any failure stops every plugin already started and returns an
// error naming the plugin, e.g. `pluginhost: plugin "mything": checksum
// mismatch for /path: the file's sha256 is not the configured one`. ctx
// bounds start-up only; the plugins run until Close.
func Start(ctx context.Context, specs []Spec, opts Options) (*Host, error) {
	opts.setDefaults()
	if err := validateSpecs(specs, opts); err != nil {
		return nil, err
	}
	h := &Host{
		opts:    opts,
		logger:  opts.Logger,
		plugins: make(map[string]*proc, len(specs)),
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	// Plugins start in parallel: each costs a process start, a handshake
	// and two RPCs (~40 ms here), which in sequence would add up.
	procs := make([]*proc, len(specs))
	errs := make([]error, len(specs))
	var wg sync.WaitGroup
	for i, s := range specs {
		wg.Go(func() { procs[i], errs[i] = h.startPlugin(ctx, s) })
	}
	wg.Wait()
	var firstErr error
	for i, s := range specs {
		if procs[i] != nil {
			h.plugins[s.Name] = procs[i]
			h.names = append(h.names, s.Name)
		}
		if errs[i] != nil && firstErr == nil {
			firstErr = fmt.Errorf("pluginhost: plugin %q: %w", s.Name, errs[i])
		}
	}
	sort.Strings(h.names)
	if firstErr != nil {
		h.Close()
		return nil, firstErr
	}
	if err := mergeManifests(h.Manifests()); err != nil {
		h.Close()
		return nil, err
	}
	if err := h.mergeServedHosts(); err != nil {
		h.Close()
		return nil, err
	}
	for _, name := range h.names {
		p := h.plugins[name]
		h.wg.Go(func() { p.supervise(h.ctx) })
	}
	return h, nil
}

func validateSpecs(specs []Spec, opts Options) error {
	if len(specs) > maxPlugins {
		return fmt.Errorf("pluginhost: %d plugins, at most %d", len(specs), maxPlugins)
	}
	seen := make(map[string]bool, len(specs))
	for _, s := range specs {
		if err := sdk.ValidPluginName(s.Name); err != nil {
			return fmt.Errorf("pluginhost: plugin name %w", err)
		}
		switch {
		case seen[s.Name]:
			return fmt.Errorf("pluginhost: plugin %q is enabled twice", s.Name)
		case s.Path == "" && opts.Bundled == nil:
			return fmt.Errorf("pluginhost: plugin %q: bundled, but Options.Bundled is not set", s.Name)
		case s.Path == "" && s.SHA256 != "":
			return fmt.Errorf("pluginhost: plugin %q: sha256 applies only to a plugin with a path", s.Name)
		case s.Path != "" && !filepath.IsAbs(s.Path):
			return fmt.Errorf("pluginhost: plugin %q: path %q must be absolute", s.Name, s.Path)
		case s.Path != "":
			if _, err := parseSHA256(s.SHA256); err != nil {
				return fmt.Errorf("pluginhost: plugin %q: %w", s.Name, err)
			}
		}
		seen[s.Name] = true
	}
	return nil
}

func parseSHA256(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("sha256 is required for a plugin with a path (run sha256sum on the executable)")
	}
	sum, err := hex.DecodeString(strings.ToLower(strings.TrimSpace(s)))
	if err != nil || len(sum) != sha256.Size {
		return nil, fmt.Errorf("sha256 %q is not 64 hex digits", s)
	}
	return sum, nil
}

// verifyChecksum compares the sha256 of the file at path with want.
func verifyChecksum(path string, want []byte) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open executable: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("read executable %s: %w", path, err)
	}
	if !slices.Equal(h.Sum(nil), want) {
		return fmt.Errorf("checksum mismatch for %s: the file's sha256 is not the configured one", path)
	}
	return nil
}

// startPlugin launches, describes and configures one plugin.
func (h *Host) startPlugin(ctx context.Context, s Spec) (*proc, error) {
	p := &proc{
		host:    h,
		spec:    s,
		logger:  h.logger.With("plugin", s.Name),
		tunnels: make(map[string]*openTunnel),
		meters: procMeters{
			check:     h.opts.Metrics.Call(s.Name, "check"),
			open:      h.opts.Metrics.Call(s.Name, "open_tunnel"),
			close:     h.opts.Metrics.Call(s.Name, "close_tunnel"),
			bind:      h.opts.Metrics.Call(s.Name, "bind"),
			cacheHits: h.opts.Metrics.CacheHits(s.Name),
		},
	}
	if s.Path != "" {
		p.sum, _ = parseSHA256(s.SHA256) // validated already
	}
	if h.opts.DataDir != "" {
		p.dataDir = filepath.Join(h.opts.DataDir, "plugins", s.Name)
		if err := os.MkdirAll(p.dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("create data directory: %w", err)
		}
	}
	inst, m, served, err := p.launchAndConfigure(ctx)
	if err != nil {
		return nil, err
	}
	p.manifest = m
	if m.ResponseHead {
		p.meters.review = h.opts.Metrics.Call(s.Name, "review_response")
	}
	p.served = served
	p.cur.Store(inst)
	p.logger.Info("plugin started", "version", m.Version, "pid", inst.pid)
	return p, nil
}

// mergeManifests checks that no two plugins claim the same flag for the
// same command, the same endpoint type or the same reserved path.
func mergeManifests(ms []sdk.Manifest) error {
	type claim struct {
		plugin   string
		commands []string
	}
	flags := map[string][]claim{}
	endpoints := map[string]string{}
	paths := map[string]string{}
	for _, m := range ms {
		for _, f := range m.Flags {
			for _, c := range flags[f.Name] {
				if commandsOverlap(c.commands, f.Commands) {
					return fmt.Errorf("pluginhost: plugins %q and %q both declare the flag --%s", c.plugin, m.Name, f.Name)
				}
			}
			flags[f.Name] = append(flags[f.Name], claim{m.Name, f.Commands})
		}
		for _, spec := range m.Endpoints() {
			e := spec.Name
			if e == builtinCommand {
				return fmt.Errorf("pluginhost: plugin %q provides the endpoint type %q, which the edge serves itself", m.Name, e)
			}
			if other, ok := endpoints[e]; ok {
				return fmt.Errorf("pluginhost: plugins %q and %q both provide the endpoint type %q", other, m.Name, e)
			}
			endpoints[e] = m.Name
		}
		for _, path := range m.ReservedPaths {
			if other, ok := paths[path]; ok {
				return fmt.Errorf("pluginhost: plugins %q and %q both reserve the path %q", other, m.Name, path)
			}
			paths[path] = m.Name
		}
	}
	return nil
}

// commandsOverlap reports whether two flag command lists share a command;
// an empty list means every command.
func commandsOverlap(a, b []string) bool {
	if len(a) == 0 || len(b) == 0 {
		return true
	}
	for _, c := range a {
		if slices.Contains(b, c) {
			return true
		}
	}
	return false
}

// Flags returns each plugin's flags, keyed by plugin name.
func (h *Host) Flags() map[string][]sdk.FlagSpec {
	out := make(map[string][]sdk.FlagSpec, len(h.plugins))
	for name, p := range h.plugins {
		out[name] = slices.Clone(p.manifest.Flags)
	}
	return out
}

// Manifests returns every plugin's manifest, sorted by name; none for a
// nil Host.
func (h *Host) Manifests() []sdk.Manifest {
	if h == nil {
		return nil
	}
	out := make([]sdk.Manifest, 0, len(h.names))
	for _, name := range h.names {
		out = append(out, h.plugins[name].manifest)
	}
	return out
}

// Calls returns how many Check and ReviewResponse calls the host has sent
// to plugins; answers served from the cache do not count. Meant for tests and metrics.
func (h *Host) Calls() uint64 { return h.checkCalls.Load() }

// Close stops the supervisors and kills every plugin process. Tunnels'
// chains fail closed afterwards. It is idempotent and always returns nil.
func (h *Host) Close() error {
	h.closeOnce.Do(func() {
		h.closed.Store(true)
		h.cancel()
		h.wg.Wait()
		var wg sync.WaitGroup
		for _, p := range h.plugins {
			wg.Go(p.stop)
		}
		wg.Wait()
	})
	return nil
}
