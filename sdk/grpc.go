package sdk

// This file is the plugin side of the gRPC contract: the go-plugin glue and
// the server shims (in the style of go-plugin's examples and Nomad's plugin
// base). The edge's side is sdk/host.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"slices"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sshgress/sshgress/sdk/internal/wire"
	pluginv1 "github.com/sshgress/sshgress/sdk/proto/plugin/v1"
)

// serverPlugin is the plugin side's go-plugin glue: it registers impl's gRPC
// services. The edge's side is sdk/host.
type serverPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	// impl is the plugin being served.
	impl Plugin
	// logger is handed to impl in Config.Logger; nil discards.
	logger *slog.Logger
}

var _ plugin.GRPCPlugin = (*serverPlugin)(nil)

// GRPCServer registers the Plugin service and, when Impl implements
// HTTPMiddleware, the Middleware service, and when it implements
// EndpointPlugin, the Endpoint service.
func (p *serverPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.impl == nil {
		return errors.New("sdk: no plugin implementation to serve")
	}
	logger := p.logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	pluginv1.RegisterPluginServer(s, &pluginServer{impl: p.impl, logger: logger})
	if mw, ok := p.impl.(HTTPMiddleware); ok {
		pluginv1.RegisterMiddlewareServer(s, &middlewareServer{impl: mw, logger: logger})
	}
	if ep, ok := p.impl.(EndpointPlugin); ok {
		pluginv1.RegisterEndpointServer(s, &endpointServer{impl: ep, logger: logger})
	}
	return nil
}

// GRPCClient refuses: a plugin does not dial the edge.
func (p *serverPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("sdk: a plugin has no client side")
}

// pluginServer serves the Plugin service from a Plugin.
type pluginServer struct {
	pluginv1.UnimplementedPluginServer
	impl   Plugin
	logger *slog.Logger
}

func (s *pluginServer) Describe(ctx context.Context, _ *pluginv1.DescribeRequest) (resp *pluginv1.DescribeResponse, err error) {
	defer recoverPanic(s.logger, "describe", &err)
	m := completeManifest(s.impl)
	return &pluginv1.DescribeResponse{Manifest: manifestToProto(m)}, nil
}

func (s *pluginServer) Configure(ctx context.Context, req *pluginv1.ConfigureRequest) (resp *pluginv1.ConfigureResponse, err error) {
	defer recoverPanic(s.logger, "configure", &err)
	section := map[string]any{}
	if raw := req.GetConfigJson(); len(raw) > 0 {
		if err := json.Unmarshal(raw, &section); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "config section is not a JSON object: %v", err)
		}
		if section == nil {
			section = map[string]any{}
		}
	}
	err = s.impl.Configure(ctx, Config{
		Section:    section,
		BaseDomain: req.GetBaseDomain(),
		DataDir:    req.GetDataDir(),
		Logger:     s.logger,
	})
	if err != nil {
		return nil, toStatus(err)
	}
	resp = &pluginv1.ConfigureResponse{}
	if hs, ok := s.impl.(HostServer); ok {
		resp.ServedHosts = hs.ServedHosts()
	}
	return resp, nil
}

func (s *pluginServer) OpenTunnel(ctx context.Context, req *pluginv1.OpenTunnelRequest) (resp *pluginv1.OpenTunnelResponse, err error) {
	defer recoverPanic(s.logger, "open tunnel", &err)
	t := Tunnel{
		ID:         req.GetTunnelId(),
		Account:    req.GetAccount(),
		Command:    req.GetCommand(),
		Host:       req.GetHost(),
		URL:        req.GetUrl(),
		RemotePort: req.GetRemotePort(),
		Values:     make(map[string][]string, len(req.GetValues())),
	}
	for k, v := range req.GetValues() {
		t.Values[k] = v.GetValues()
	}
	hooks, ok := s.impl.(TunnelHooks)
	if !ok {
		return &pluginv1.OpenTunnelResponse{}, nil
	}
	res, err := hooks.OpenTunnel(ctx, t)
	if err != nil {
		return nil, toStatus(err)
	}
	if res.Rules != nil && !res.Rules.Empty() && !req.GetEnforcesStaticRules() {
		// An edge older than static rules would drop them: fail closed.
		if cerr := hooks.CloseTunnel(ctx, t.ID); cerr != nil {
			s.logger.Warn("close tunnel after refusing it", "tunnel", t.ID, "error", cerr)
		}
		return nil, toStatus(UserErrorf("this edge is too old to enforce the request rules these flags set; ask its operator to upgrade sshgress"))
	}
	if res.Rules != nil && res.Rules.HasTrafficLimits() && !req.GetEnforcesTrafficLimits() {
		// An edge older than rate limits and breakers would drop them.
		if cerr := hooks.CloseTunnel(ctx, t.ID); cerr != nil {
			s.logger.Warn("close tunnel after refusing it", "tunnel", t.ID, "error", cerr)
		}
		return nil, toStatus(UserErrorf("this edge is too old to enforce rate limits and circuit breakers; ask its operator to upgrade sshgress"))
	}
	if res.Rules != nil && !res.Rules.Headers.Empty() && !req.GetAppliesHeaderEdits() {
		// An edge older than header edits would drop them: fail closed.
		if cerr := hooks.CloseTunnel(ctx, t.ID); cerr != nil {
			s.logger.Warn("close tunnel after refusing it", "tunnel", t.ID, "error", cerr)
		}
		return nil, toStatus(UserErrorf("this edge is too old to apply the header edits these flags set; ask its operator to upgrade sshgress"))
	}
	return &pluginv1.OpenTunnelResponse{Protection: res.Protection, StaticRules: staticRulesToProto(res.Rules)}, nil
}

func (s *pluginServer) CloseTunnel(ctx context.Context, req *pluginv1.CloseTunnelRequest) (resp *pluginv1.CloseTunnelResponse, err error) {
	defer recoverPanic(s.logger, "close tunnel", &err)
	hooks, ok := s.impl.(TunnelHooks)
	if !ok {
		return &pluginv1.CloseTunnelResponse{}, nil
	}
	if err := hooks.CloseTunnel(ctx, req.GetTunnelId()); err != nil {
		return nil, toStatus(err)
	}
	return &pluginv1.CloseTunnelResponse{}, nil
}

// middlewareServer serves the Middleware service from an HTTPMiddleware.
type middlewareServer struct {
	pluginv1.UnimplementedMiddlewareServer
	impl   HTTPMiddleware
	logger *slog.Logger
}

func (s *middlewareServer) Check(ctx context.Context, req *pluginv1.CheckRequest) (resp *pluginv1.CheckResponse, err error) {
	defer recoverPanic(s.logger, "check", &err)
	v, err := s.impl.Check(ctx, requestFromProto(req))
	if err != nil {
		return nil, toStatus(err)
	}
	return verdictToProto(v), nil
}

// ReviewResponse serves a ResponseReviewer's response phase; a plugin
// that is not one answers Unimplemented (the edge never asks it: its
// manifest has no ResponseHead).
func (s *middlewareServer) ReviewResponse(ctx context.Context, req *pluginv1.ReviewResponseRequest) (resp *pluginv1.ReviewResponseResponse, err error) {
	defer recoverPanic(s.logger, "review response", &err)
	rr, ok := s.impl.(ResponseReviewer)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "the plugin does not review responses")
	}
	e, err := rr.ReviewResponse(ctx, responseHeadFromProto(req))
	if err != nil {
		return nil, toStatus(err)
	}
	return responseEditsToProto(e), nil
}

// completeManifest returns impl's manifest with the fields the SDK owns
// filled in.
func completeManifest(impl Plugin) Manifest {
	m := impl.Manifest()
	m.APIVersion = APIVersion
	_, m.HTTPMiddleware = impl.(HTTPMiddleware)
	_, m.ResponseHead = impl.(ResponseReviewer)
	m.ResponseHead = m.ResponseHead && m.HTTPMiddleware
	// Edges older than EndpointTypeSpecs read only EndpointTypes.
	for _, e := range m.EndpointTypeSpecs {
		if !slices.Contains(m.EndpointTypes, e.Name) {
			m.EndpointTypes = append(slices.Clip(m.EndpointTypes), e.Name)
		}
	}
	return m
}

// recoverPanic turns a panic in a plugin method into an Internal error so a
// bug fails one call instead of killing the process.
func recoverPanic(logger *slog.Logger, method string, err *error) {
	if r := recover(); r != nil {
		logger.Error("plugin method panicked", "method", method, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		*err = status.Errorf(codes.Internal, "%s panicked", method)
	}
}

// toStatus maps a plugin's error onto a gRPC status: UserError becomes
// InvalidArgument, context errors keep their meaning, anything else is
// Internal.
func toStatus(err error) error {
	if msg, ok := AsUserError(err); ok {
		return status.Error(codes.InvalidArgument, msg)
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

// fromStatus maps a gRPC error back: InvalidArgument becomes a *UserError;
// an error the plugin itself returned keeps its text behind the method
// name ("configure: basicauth: ..."); a missed deadline wraps
// context.DeadlineExceeded; transport failures keep the gRPC error.
func manifestToProto(m Manifest) *pluginv1.Manifest {
	pm := &pluginv1.Manifest{
		Name:           m.Name,
		Version:        m.Version,
		ApiVersion:     uint32(m.APIVersion),
		EndpointTypes:  m.EndpointTypes,
		ReservedPaths:  m.ReservedPaths,
		HttpMiddleware: m.HTTPMiddleware,
		ResponseHead:   m.ResponseHead,
		Authenticates:  m.Authenticates,
		RequestBody:    m.RequestBody,
	}
	for _, e := range m.EndpointTypeSpecs {
		pm.EndpointTypeSpecs = append(pm.EndpointTypeSpecs, &pluginv1.EndpointTypeSpec{
			Name:        e.Name,
			Summary:     e.Summary,
			Ports:       e.Ports,
			RemotePorts: e.RemotePorts,
			Example:     e.Example,
		})
	}
	for _, h := range m.ServedHosts {
		pm.ServedHosts = append(pm.ServedHosts, &pluginv1.ServedHost{Label: h.Label, Setting: h.Setting})
	}
	for _, f := range m.Flags {
		pm.Flags = append(pm.Flags, &pluginv1.FlagSpec{
			Name:       f.Name,
			Type:       pluginv1.FlagType(f.Type),
			Repeatable: f.Repeatable,
			Help:       f.Help,
			ValueName:  f.ValueName,
			Sensitive:  f.Sensitive,
			Commands:   f.Commands,
		})
	}
	return pm
}

func requestFromProto(pr *pluginv1.CheckRequest) *Request {
	r := &Request{
		TunnelID: pr.GetTunnelId(),
		Method:   pr.GetMethod(),
		Host:     pr.GetHost(),
		Path:     pr.GetPath(),
		RawQuery: pr.GetRawQuery(),
		Header:   wire.HeadersFromProto(pr.GetHeaders()),
		Body:     pr.GetBody(),
	}
	if r.Header == nil {
		r.Header = http.Header{}
	}
	if ap, err := netip.ParseAddrPort(pr.GetClientAddr()); err == nil {
		r.ClientAddr = ap
	}
	if t := pr.GetTls(); t != nil {
		r.TLS = &TLSFacts{ServerName: t.GetServerName(), Version: uint16(t.GetVersion())}
	}
	return r
}

func staticRulesToProto(r *StaticRules) *pluginv1.StaticRules {
	if r == nil || r.Empty() {
		return nil
	}
	return &pluginv1.StaticRules{
		CidrAllow:      r.CIDRAllow,
		CidrDeny:       r.CIDRDeny,
		UserAgentAllow: r.UserAgentAllow,
		UserAgentDeny:  r.UserAgentDeny,
		RateLimit:      rateLimitToProto(r.RateLimit),
		CircuitBreaker: breakerToProto(r.CircuitBreaker),
		HeaderEdits:    headerEditsToProto(r.Headers),
	}
}

func headerEditsToProto(e HeaderEdits) *pluginv1.HeaderEdits {
	if e.Empty() {
		return nil
	}
	fields := func(fs []HeaderField) []*pluginv1.HeaderField {
		out := make([]*pluginv1.HeaderField, len(fs))
		for i, f := range fs {
			out[i] = &pluginv1.HeaderField{Name: f.Name, Value: f.Value}
		}
		return out
	}
	return &pluginv1.HeaderEdits{
		RequestRemove:  e.RequestRemove,
		RequestAdd:     fields(e.RequestAdd),
		ResponseRemove: e.ResponseRemove,
		ResponseAdd:    fields(e.ResponseAdd),
		Host:           e.Host,
	}
}

func rateLimitToProto(l *RateLimit) *pluginv1.RateLimit {
	if l == nil {
		return nil
	}
	return &pluginv1.RateLimit{Requests: uint32(l.Requests), PeriodMs: l.Period.Milliseconds(), KeyHeader: l.KeyHeader}
}

func breakerToProto(b *CircuitBreaker) *pluginv1.CircuitBreaker {
	if b == nil {
		return nil
	}
	return &pluginv1.CircuitBreaker{Ratio: b.Ratio, Volume: uint32(b.Volume), WindowMs: b.Window.Milliseconds(), TrippedMs: b.Tripped.Milliseconds()}
}

func identityToProto(id *Identity) *pluginv1.Identity {
	if id == nil {
		return nil
	}
	return &pluginv1.Identity{Id: id.ID, Name: id.Name, Email: id.Email}
}

func verdictToProto(v Verdict) *pluginv1.CheckResponse {
	resp := &pluginv1.CheckResponse{}
	switch {
	case v.Respond != nil:
		resp.Verdict = &pluginv1.CheckResponse_Respond{Respond: &pluginv1.Respond{
			Status:    int32(v.Respond.Status),
			Headers:   wire.HeadersToProto(v.Respond.Header),
			Body:      v.Respond.Body,
			OwnerNote: v.Respond.OwnerNote,
		}}
	case v.Continue != nil:
		resp.Verdict = &pluginv1.CheckResponse_Continue{Continue: &pluginv1.Continue{
			SetHeaders:    wire.HeadersToProto(v.Continue.SetHeaders),
			RemoveHeaders: v.Continue.RemoveHeaders,
			Identity:      identityToProto(v.Continue.Identity),
		}}
	}
	if h := v.Cache; h != nil && h.TTL > 0 {
		resp.Cache = &pluginv1.CacheHint{DependsOn: h.DependsOn, TtlMillis: uint64(h.TTL / time.Millisecond)}
	}
	return resp
}

// maxTTLMillis keeps a TTL from the wire from overflowing time.Duration.

func responseHeadFromProto(pr *pluginv1.ReviewResponseRequest) *ResponseHead {
	h := &ResponseHead{
		TunnelID: pr.GetTunnelId(),
		Method:   pr.GetMethod(),
		Host:     pr.GetHost(),
		Path:     pr.GetPath(),
		Status:   int(pr.GetStatus()),
		Header:   wire.HeadersFromProto(pr.GetHeaders()),
	}
	if h.Header == nil {
		h.Header = http.Header{}
	}
	if id := pr.GetIdentity(); id != nil {
		h.Identity = &Identity{ID: id.GetId(), Name: id.GetName(), Email: id.GetEmail()}
	}
	return h
}

func responseEditsToProto(e ResponseEdits) *pluginv1.ReviewResponseResponse {
	resp := &pluginv1.ReviewResponseResponse{
		SetHeaders:    wire.HeadersToProto(e.SetHeaders),
		RemoveHeaders: e.RemoveHeaders,
	}
	if h := e.Cache; h != nil && h.TTL > 0 {
		resp.Cache = &pluginv1.CacheHint{DependsOn: h.DependsOn, TtlMillis: uint64(h.TTL / time.Millisecond)}
	}
	return resp
}
