package host

// The edge side of the Endpoint service.

import (
	"context"

	"github.com/sshgress/sshgress/sdk"
	pluginv1 "github.com/sshgress/sshgress/sdk/proto/plugin/v1"
)

// Bind asks an endpoint plugin what to publish for one forward. A refusal
// comes back as a *UserError. The binding is returned as received; callers
// must Validate it.
func (c *Client) Bind(ctx context.Context, req sdk.BindRequest) (sdk.Binding, error) {
	pr := &pluginv1.BindRequest{
		TunnelId:   req.TunnelID,
		Type:       req.Type,
		RemoteName: req.RemoteName,
		RemotePort: req.RemotePort,
		Account: &pluginv1.Account{
			Name:         req.Account.Name,
			Anonymous:    req.Account.Anonymous,
			Domains:      req.Account.Domains,
			TcpAddresses: req.Account.TCPAddresses,
		},
		Values: make(map[string]*pluginv1.StringList, len(req.Values)),
	}
	for k, v := range req.Values {
		pr.Values[k] = &pluginv1.StringList{Values: v}
	}
	resp, err := c.ep.Bind(ctx, pr)
	if err != nil {
		return sdk.Binding{}, fromStatus("bind", err)
	}
	return bindingFromProto(resp.GetBinding()), nil
}

// Unbind tells an endpoint plugin a binding is gone.
func (c *Client) Unbind(ctx context.Context, tunnelID string) error {
	_, err := c.ep.Unbind(ctx, &pluginv1.UnbindRequest{TunnelId: tunnelID})
	return fromStatus("unbind", err)
}

func bindingFromProto(pb *pluginv1.Binding) sdk.Binding {
	pp := pb.GetProxyProtocol()
	if pp > 255 {
		pp = 255 // Validate refuses it
	}
	return sdk.Binding{
		Kind:          pb.GetKind(),
		Host:          pb.GetHost(),
		Port:          pb.GetPort(),
		PortMin:       pb.GetPortMin(),
		PortMax:       pb.GetPortMax(),
		SNIName:       pb.GetSniName(),
		CIDRAllow:     pb.GetCidrAllow(),
		CIDRDeny:      pb.GetCidrDeny(),
		ProxyProtocol: int(pp),
	}
}
