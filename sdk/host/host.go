// Package host is the edge's side of the plugin gRPC contract: the go-plugin
// plugin set and the Client the edge calls a plugin through. It is for the
// edge (core/pluginhost) and the sdk/plugintest harness, not for plugin
// authors, who need only package sdk.
package host

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sshgress/sshgress/sdk"
	"github.com/sshgress/sshgress/sdk/internal/wire"
	pluginv1 "github.com/sshgress/sshgress/sdk/proto/plugin/v1"
)

// Handshake returns the go-plugin handshake the edge and every plugin share.
func Handshake() plugin.HandshakeConfig { return wire.Handshake() }

// PluginSet returns the go-plugin plugin map the edge dispenses clients from.
func PluginSet() plugin.PluginSet {
	return plugin.PluginSet{wire.PluginKey: &GRPCPlugin{}}
}

// GRPCPlugin is the edge's go-plugin glue: it returns a *Client. It serves
// nothing; a plugin is served by sdk.Serve.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
}

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer refuses: the edge does not serve a plugin.
func (p *GRPCPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return fmt.Errorf("sdk/host: the edge side serves no plugin")
}

// GRPCClient returns a *Client talking to the plugin over conn. ctx is
// cancelled by go-plugin when the plugin process exits.
func (p *GRPCPlugin) GRPCClient(ctx context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return &Client{
		plugin: pluginv1.NewPluginClient(conn),
		mw:     pluginv1.NewMiddlewareClient(conn),
		ep:     pluginv1.NewEndpointClient(conn),
		done:   ctx.Done(),
	}, nil
}

// Client is the edge's side of one plugin connection. Every method honours
// ctx's deadline. A refusal from the plugin comes back as a *UserError;
// other errors start with the method's name, e.g. "check: ...".
type Client struct {
	plugin pluginv1.PluginClient
	mw     pluginv1.MiddlewareClient
	ep     pluginv1.EndpointClient
	done   <-chan struct{}
}

// Done is closed when the plugin process has exited.
func (c *Client) Done() <-chan struct{} { return c.done }

// Describe asks for the plugin's manifest.
func (c *Client) Describe(ctx context.Context) (sdk.Manifest, error) {
	resp, err := c.plugin.Describe(ctx, &pluginv1.DescribeRequest{})
	if err != nil {
		return sdk.Manifest{}, fromStatus("describe", err)
	}
	return manifestFromProto(resp.GetManifest()), nil
}

// Configure sends the plugin its config section and the edge's facts.
// cfg.Logger is ignored.
func (c *Client) Configure(ctx context.Context, cfg sdk.Config) error {
	_, err := c.ConfigureResult(ctx, cfg)
	return err
}

// ConfigureResult is what a plugin answers to a successful Configure.
type ConfigureResult struct {
	// ServedHosts are the host names the plugin serves with this config
	// (HostServer), as it sent them: the edge normalises and checks them.
	ServedHosts []string
}

// ConfigureResult is Configure, returning the plugin's answer.
func (c *Client) ConfigureResult(ctx context.Context, cfg sdk.Config) (ConfigureResult, error) {
	section := cfg.Section
	if section == nil {
		section = map[string]any{}
	}
	raw, err := json.Marshal(section)
	if err != nil {
		return ConfigureResult{}, fmt.Errorf("sdk/host: configure: encode config section: %w", err)
	}
	resp, err := c.plugin.Configure(ctx, &pluginv1.ConfigureRequest{
		ConfigJson: raw,
		BaseDomain: cfg.BaseDomain,
		DataDir:    cfg.DataDir,
	})
	if err != nil {
		return ConfigureResult{}, fromStatus("configure", err)
	}
	return ConfigureResult{ServedHosts: resp.GetServedHosts()}, nil
}

// OpenTunnel opens t in the plugin.
func (c *Client) OpenTunnel(ctx context.Context, t sdk.Tunnel) (sdk.OpenResult, error) {
	req := &pluginv1.OpenTunnelRequest{
		TunnelId:   t.ID,
		Account:    t.Account,
		Command:    t.Command,
		Host:       t.Host,
		Url:        t.URL,
		RemotePort: t.RemotePort,
		Values:     make(map[string]*pluginv1.StringList, len(t.Values)),
		// The edge's pluginhost enforces every rule sdk.StaticRules has.
		EnforcesStaticRules: true,
		// And its rate limits and circuit breakers.
		EnforcesTrafficLimits: true,
		// ... and applies their header edits.
		AppliesHeaderEdits: true,
	}
	for k, v := range t.Values {
		req.Values[k] = &pluginv1.StringList{Values: v}
	}
	resp, err := c.plugin.OpenTunnel(ctx, req)
	if err != nil {
		return sdk.OpenResult{}, fromStatus("open tunnel", err)
	}
	return sdk.OpenResult{Protection: resp.GetProtection(), Rules: staticRulesFromProto(resp.GetStaticRules())}, nil
}

// CloseTunnel closes the tunnel with the given ID in the plugin.
func (c *Client) CloseTunnel(ctx context.Context, tunnelID string) error {
	_, err := c.plugin.CloseTunnel(ctx, &pluginv1.CloseTunnelRequest{TunnelId: tunnelID})
	return fromStatus("close tunnel", err)
}

// Check asks a middleware plugin about one request head. The verdict is
// returned as received; callers must Validate it.
func (c *Client) Check(ctx context.Context, req *sdk.Request) (sdk.Verdict, error) {
	resp, err := c.mw.Check(ctx, requestToProto(req))
	if err != nil {
		return sdk.Verdict{}, fromStatus("check", err)
	}
	return verdictFromProto(resp), nil
}

// ReviewResponse asks a plugin whose manifest has ResponseHead for edits of
// one response head. The edits are returned as received; callers must
// Validate them.
func (c *Client) ReviewResponse(ctx context.Context, head *sdk.ResponseHead) (sdk.ResponseEdits, error) {
	resp, err := c.mw.ReviewResponse(ctx, responseHeadToProto(head))
	if err != nil {
		return sdk.ResponseEdits{}, fromStatus("review response", err)
	}
	return responseEditsFromProto(resp), nil
}

func fromStatus(method string, err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%s: %w", method, err)
	}
	switch st.Code() {
	case codes.InvalidArgument:
		return &sdk.UserError{Message: st.Message()}
	case codes.DeadlineExceeded:
		return fmt.Errorf("%s: %w", method, context.DeadlineExceeded)
	case codes.Internal, codes.Unknown:
		return fmt.Errorf("%s: %s", method, st.Message())
	}
	return fmt.Errorf("%s: %w", method, err)
}

// PluginKey is the name under which a plugin is dispensed from PluginSet.
const PluginKey = wire.PluginKey
