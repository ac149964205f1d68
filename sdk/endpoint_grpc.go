package sdk

// The gRPC shims of the Endpoint service plugin side (see grpc.go for the rest; the edge side is sdk/host).

import (
	"context"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pluginv1 "github.com/sshgress/sshgress/sdk/proto/plugin/v1"
)

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
