package sdk

// The gRPC shims of the Endpoint service (see grpc.go for the rest).

import (
	"context"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pluginv1 "github.com/sshgress/sshgress/sdk/proto/plugin/v1"
)

// Bind asks an endpoint plugin what to publish for one forward. A refusal
// comes back as a *UserError. The binding is returned as received; callers
// must Validate it.
func (c *Client) Bind(ctx context.Context, req BindRequest) (Binding, error) {
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
		return Binding{}, fromStatus("bind", err)
	}
	return bindingFromProto(resp.GetBinding()), nil
}

// Unbind tells an endpoint plugin a binding is gone.
func (c *Client) Unbind(ctx context.Context, tunnelID string) error {
	_, err := c.ep.Unbind(ctx, &pluginv1.UnbindRequest{TunnelId: tunnelID})
	return fromStatus("unbind", err)
}

// endpointServer serves the Endpoint service from an EndpointPlugin.
type endpointServer struct {
	pluginv1.UnimplementedEndpointServer
	impl   EndpointPlugin
	logger *slog.Logger
}

func (s *endpointServer) Bind(ctx context.Context, pr *pluginv1.BindRequest) (resp *pluginv1.BindResponse, err error) {
	defer recoverPanic(s.logger, "bind", &err)
	req := BindRequest{
		TunnelID:   pr.GetTunnelId(),
		Type:       pr.GetType(),
		RemoteName: pr.GetRemoteName(),
		RemotePort: pr.GetRemotePort(),
		Account: Account{
			Name:         pr.GetAccount().GetName(),
			Anonymous:    pr.GetAccount().GetAnonymous(),
			Domains:      pr.GetAccount().GetDomains(),
			TCPAddresses: pr.GetAccount().GetTcpAddresses(),
		},
		Values: make(map[string][]string, len(pr.GetValues())),
	}
	for k, v := range pr.GetValues() {
		req.Values[k] = v.GetValues()
	}
	b, err := s.impl.Bind(ctx, req)
	if err != nil {
		return nil, toStatus(err)
	}
	if err := b.Validate(); err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &pluginv1.BindResponse{Binding: bindingToProto(b)}, nil
}

func (s *endpointServer) Unbind(ctx context.Context, pr *pluginv1.UnbindRequest) (resp *pluginv1.UnbindResponse, err error) {
	defer recoverPanic(s.logger, "unbind", &err)
	if err := s.impl.Unbind(ctx, pr.GetTunnelId()); err != nil {
		return nil, toStatus(err)
	}
	return &pluginv1.UnbindResponse{}, nil
}

func bindingToProto(b Binding) *pluginv1.Binding {
	return &pluginv1.Binding{
		Kind:          b.Kind,
		Host:          b.Host,
		Port:          b.Port,
		PortMin:       b.PortMin,
		PortMax:       b.PortMax,
		SniName:       b.SNIName,
		CidrAllow:     b.CIDRAllow,
		CidrDeny:      b.CIDRDeny,
		ProxyProtocol: uint32(b.ProxyProtocol),
	}
}

func bindingFromProto(pb *pluginv1.Binding) Binding {
	pp := pb.GetProxyProtocol()
	if pp > 255 {
		pp = 255 // Validate refuses it
	}
	return Binding{
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
