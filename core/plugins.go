package core

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/sshgress/sshgress/core/command"
	"github.com/sshgress/sshgress/core/httpedge"
	"github.com/sshgress/sshgress/core/pluginhost"
	"github.com/sshgress/sshgress/core/tunnel"
	"github.com/sshgress/sshgress/core/usererr"
	"github.com/sshgress/sshgress/sdk"
)

// startPlugins launches the enabled plugins.
func (e *Edge) startPlugins(ctx context.Context, opts Options) error {
	var specs []pluginhost.Spec
	names := make([]string, 0, len(e.cfg.Plugins))
	for name := range e.cfg.Plugins {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p := e.cfg.Plugins[name]
		if !p.IsEnabled() {
			continue
		}
		if p.Path == "" && !isBundled(opts.Bundled, name) {
			return fmt.Errorf("config: plugins.%s: no bundled plugin has this name (bundled: %s); give path and sha256 for a third-party plugin", name, bundledNames(opts.Bundled))
		}
		specs = append(specs, pluginhost.Spec{Name: name, Path: p.Path, SHA256: p.SHA256, Config: p.Config})
	}
	if len(specs) == 0 {
		return nil
	}
	h, err := pluginhost.Start(ctx, specs, pluginhost.Options{
		Bundled:    opts.BundledPlugin,
		Logger:     e.log.With("part", "plugins"),
		BaseDomain: e.cfg.Domain,
		DataDir:    e.cfg.DataDir,
		Metrics:    e.metrics,
		Events:     e.events,
	})
	if err != nil {
		return err
	}
	e.plugins = h
	return nil
}

func (e *Edge) closePlugins() error {
	if e.plugins == nil {
		return nil
	}
	return e.plugins.Close()
}

// commandSet builds the commands this server offers: http, then the
// endpoint types the enabled plugins' manifests describe, each with the
// plugins' flags; what the disabled bundled plugins would provide is
// remembered so using it gets an error naming the plugin.
func (e *Edge) commandSet(opts Options) (*command.Set, error) {
	cmds := []command.Command{{
		Name:    "http",
		Summary: "Publish a local HTTP service at a public URL",
		Ports:   "80, 443 or 0",
		Example: "ssh -R 80:localhost:3000 v2@{host} http",
		Flags:   httpedge.Flags(),
	}}
	for _, ep := range e.plugins.Endpoints() {
		cmds = append(cmds, command.EndpointCommand(ep.EndpointTypeSpec, ep.Plugin))
	}
	if e.plugins != nil {
		flags := e.plugins.Flags()
		for i := range cmds {
			for _, name := range slices.Sorted(maps.Keys(flags)) {
				for _, f := range flags[name] {
					if f.AppliesTo(cmds[i].Name) {
						cmds[i].Flags = append(cmds[i].Flags, command.Flag{FlagSpec: f, Owner: name})
					}
				}
			}
		}
	}
	for i := range cmds {
		cmds[i].Flags = append(cmds[i].Flags, command.PoolingFlag())
	}
	var off []sdk.Manifest
	for _, m := range opts.Bundled {
		if p, ok := e.cfg.Plugins[m.Name]; !ok || !p.IsEnabled() {
			off = append(off, m)
		}
	}
	disabled, disabledFlags := command.Unavailable(off)
	return command.NewSet(command.Options{
		Host:          e.publicSSHHost(),
		Domain:        e.cfg.Domain,
		Disabled:      disabled,
		DisabledFlags: disabledFlags,
		MaxExecBytes:  e.cfg.Limits.MaxExecBytes,
		// One flag name may belong to different plugins per command
		// (--cidr-allow of the tcp and tls types, and of an http filter).
		DisabledCommandFlags: command.UnavailableFlags(off),
	}, cmds...)
}

func isBundled(ms []sdk.Manifest, name string) bool {
	for _, m := range ms {
		if m.Name == name {
			return true
		}
	}
	return false
}

func bundledNames(ms []sdk.Manifest) string {
	var s string
	for i, m := range ms {
		if i > 0 {
			s += ", "
		}
		s += m.Name
	}
	if s == "" {
		return "none"
	}
	return s
}

// authPlugins names the enabled plugins that authenticate visitors.
func (e *Edge) authPlugins() []string {
	if e.plugins == nil {
		return nil
	}
	var names []string
	for _, m := range e.plugins.Manifests() {
		if m.Authenticates {
			names = append(names, m.Name)
		}
	}
	return names
}

// publisher publishes what endpoint plugins decide, by binding kind.
type publisher struct{ e *Edge }

// Publish binds a plugin's binding on the TCP edge or the shared TLS port.
func (p publisher) Publish(ctx context.Context, req *tunnel.BindRequest, b sdk.Binding) (tunnel.Endpoint, error) {
	switch b.Kind {
	case sdk.KindTCP:
		return p.e.tcp.Publish(ctx, req, b)
	case sdk.KindTLS:
		if p.e.tls == nil {
			return nil, usererr.New("tls endpoints need the edge's TLS port, which is disabled on this server (https.addr)")
		}
		return p.e.tls.Publish(ctx, req, b)
	}
	return nil, fmt.Errorf("core: publish: binding kind %q is not supported", b.Kind)
}
