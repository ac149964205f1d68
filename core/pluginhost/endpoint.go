package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sshgress/sshgress/core/tunnel"
	"github.com/sshgress/sshgress/core/usererr"
	"github.com/sshgress/sshgress/sdk"
)

// Publisher publishes what an endpoint plugin decided: it binds the
// public address of a binding and carries the bytes. The core provides it
// (TCP listeners, the shared TLS port); the plugin host never touches a
// visitor connection.
type Publisher interface {
	// Publish binds b for the forward in req. Errors shown to the user are
	// usererr errors.
	Publish(ctx context.Context, req *tunnel.BindRequest, b sdk.Binding) (tunnel.Endpoint, error)
}

// EndpointTypes returns the endpoint types the plugins provide, mapped to
// the providing plugin's name.
func (h *Host) EndpointTypes() map[string]string {
	out := map[string]string{}
	for _, e := range h.Endpoints() {
		out[e.Name] = e.Plugin
	}
	return out
}

// Endpoint is an endpoint type a plugin provides, as its manifest
// describes it.
type Endpoint struct {
	sdk.EndpointTypeSpec
	// Plugin is the providing plugin's name.
	Plugin string
}

// Endpoints returns the endpoint types the plugins provide, sorted by
// name. A nil Host provides none.
func (h *Host) Endpoints() []Endpoint {
	if h == nil {
		return nil
	}
	var out []Endpoint
	for _, name := range h.names {
		for _, spec := range h.plugins[name].manifest.Endpoints() {
			out = append(out, Endpoint{EndpointTypeSpec: spec, Plugin: name})
		}
	}
	slices.SortFunc(out, func(a, b Endpoint) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// EndpointType returns the tunnel.EndpointType for an endpoint type a
// plugin provides, publishing through pub; nil if no plugin provides typ.
func (h *Host) EndpointType(typ string, pub Publisher) tunnel.EndpointType {
	for _, e := range h.Endpoints() {
		if e.Name == typ {
			return &endpointType{host: h, spec: e.EndpointTypeSpec, typ: typ, p: h.plugins[e.Plugin], pub: pub}
		}
	}
	return nil
}

// endpointType checks the remote port, asks the plugin, then publishes.
type endpointType struct {
	host *Host
	spec sdk.EndpointTypeSpec
	typ  string
	p    *proc
	pub  Publisher
}

var _ tunnel.EndpointType = (*endpointType)(nil)

// Bind refuses a remote port the type's manifest does not accept, asks
// the plugin what to publish (one call, bounded by
// Options.SetupTimeout), checks the answer and publishes it. Other plugins
// whose flags the user set for this command join the tunnel through
// OpenTunnel, as for http.
func (t *endpointType) Bind(ctx context.Context, req *tunnel.BindRequest) (tunnel.Endpoint, error) {
	name := t.p.spec.Name
	if ports := t.spec.RemotePorts; len(ports) > 0 && !slices.Contains(ports, req.RemotePort) {
		return nil, usererr.New(userText(sdk.RemotePortHint(t.typ, t.spec.Ports, req.RemoteName, req.RemotePort, int(ports[0]))))
	}
	inst := t.p.cur.Load()
	if inst == nil {
		return nil, usererr.Wrap(errPluginDown, fmt.Sprintf("the %s plugin is restarting; try again in a few seconds", name))
	}
	o := req.Owner
	acct := sdk.Account{Name: o.Account, Anonymous: o.Anonymous, Domains: slices.Clone(o.Domains), TCPAddresses: slices.Clone(o.TCPAddresses)}
	breq := sdk.BindRequest{
		TunnelID:   req.TunnelID,
		Type:       t.typ,
		Account:    acct,
		RemoteName: req.RemoteName,
		RemotePort: req.RemotePort,
		Values:     req.PluginValues[name],
	}
	bctx, cancel := context.WithTimeout(ctx, t.host.opts.SetupTimeout)
	start := time.Now()
	b, err := inst.rpc.Bind(bctx, breq)
	t.p.meters.bind.Done(start, err)
	cancel()
	if err != nil {
		if msg, refused := sdk.AsUserError(err); refused {
			return nil, usererr.Wrap(err, userText(msg))
		}
		err = fmt.Errorf("pluginhost: plugin %q: bind %s: %w", name, req.TunnelID, err)
		return nil, usererr.Wrap(err, fmt.Sprintf("the %s plugin failed to set up the endpoint; try again in a moment", name))
	}
	unbind := func() { t.unbind(req.TunnelID) }
	if err := b.Validate(); err != nil {
		unbind()
		err = fmt.Errorf("pluginhost: plugin %q: nonsense binding: %w", name, err)
		return nil, usererr.Wrap(err, fmt.Sprintf("the %s plugin answered nonsense; tell the operator", name))
	}
	ep, err := t.pub.Publish(ctx, req, b)
	if err != nil {
		unbind()
		return nil, err
	}
	wrapped := &pluginEndpoint{Endpoint: ep, unbind: unbind}
	others := make(map[string]map[string][]string)
	for pn, vs := range req.PluginValues {
		if pn != name {
			others[pn] = vs
		}
	}
	if len(others) > 0 {
		chain, err := t.host.Open(ctx, Tunnel{
			ID:         req.TunnelID,
			Account:    acct.Name,
			Command:    t.typ,
			URL:        ep.URL(),
			RemotePort: req.RemotePort,
			Values:     others,
		}, req.Console.Line)
		if err != nil {
			wrapped.Close()
			return nil, err
		}
		wrapped.chain = chain
	}
	return wrapped, nil
}

// unbind tells the plugin, bounded by Options.SetupTimeout; failures are
// logged only, since the binding is gone from the edge either way.
func (t *endpointType) unbind(id string) {
	inst := t.p.cur.Load()
	if inst == nil || t.host.closed.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(t.host.ctx, t.host.opts.SetupTimeout)
	defer cancel()
	if err := inst.rpc.Unbind(ctx, id); err != nil && !errors.Is(err, context.Canceled) {
		t.p.logger.Warn("plugin failed to unbind", "tunnel", id, "error", err)
	}
}

// pluginEndpoint is a published binding plus its plugin bookkeeping.
type pluginEndpoint struct {
	tunnel.Endpoint
	unbind func()
	chain  *Chain
	once   sync.Once
}

// Protection lists the endpoint's own rules, then other plugins' lines.
func (e *pluginEndpoint) Protection() []string {
	out := e.Endpoint.Protection()
	if e.chain != nil {
		out = append(out, e.chain.Protection()...)
	}
	return out
}

// Close unpublishes at once, then tells the plugins. Idempotent.
func (e *pluginEndpoint) Close() {
	e.once.Do(func() {
		e.Endpoint.Close()
		if e.chain != nil {
			e.chain.Close()
		}
		e.unbind()
	})
}

// PoolSize passes on the published endpoint's pool size
// (tunnel.PoolMember); 0 when it is no pool member.
func (e *pluginEndpoint) PoolSize() int {
	if p, ok := e.Endpoint.(tunnel.PoolMember); ok {
		return p.PoolSize()
	}
	return 0
}
