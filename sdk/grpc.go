package sdk

// This file is the one place that ties the Go interfaces to go-plugin and
// the gRPC contract: the handshake, the plugin map, and the client and
// server shims (in the style of go-plugin's examples and Nomad's plugin
// base).

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

	pluginv1 "github.com/sshgress/sshgress/sdk/proto/plugin/v1"
)

const (
	// ProtocolVersion is the go-plugin protocol version; it moves with the
	// proto package's major version (sshgress.plugin.v1).
	ProtocolVersion = 1
	// MagicCookieKey is the environment variable go-plugin uses to tell a
	// plugin it was started by the edge.
	MagicCookieKey = "SSHGRESS_PLUGIN"
	// MagicCookieValue is the fixed cookie value. It is not a secret: it
	// only stops a plugin binary run by hand from waiting for a handshake.
	MagicCookieValue = "b1d7c0a4-sshgress-plugin-v1"
	// PluginKey is the name under which a plugin is dispensed from the
	// go-plugin plugin map.
	PluginKey = "sshgress"
)

// Handshake returns the go-plugin handshake the edge and every plugin share.
func Handshake() plugin.HandshakeConfig {
	return plugin.HandshakeConfig{
		ProtocolVersion:  ProtocolVersion,
		MagicCookieKey:   MagicCookieKey,
		MagicCookieValue: MagicCookieValue,
	}
}

// PluginSet returns the go-plugin plugin map. impl is the plugin to serve;
// the edge passes nil (it only dispenses clients).
func PluginSet(impl Plugin, logger *slog.Logger) plugin.PluginSet {
	return plugin.PluginSet{PluginKey: &GRPCPlugin{Impl: impl, Logger: logger}}
}

// GRPCPlugin is the go-plugin glue: on the plugin side it registers Impl's
// gRPC services, on the edge side it returns a *Client.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	// Impl is the plugin being served; nil on the edge side.
	Impl Plugin
	// Logger is handed to Impl in Config.Logger; nil discards.
	Logger *slog.Logger
}

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer registers the Plugin service and, when Impl implements
// HTTPMiddleware, the Middleware service, and when it implements
// EndpointPlugin, the Endpoint service.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.Impl == nil {
		return errors.New("sdk: no plugin implementation to serve")
	}
	logger := p.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	pluginv1.RegisterPluginServer(s, &pluginServer{impl: p.Impl, logger: logger})
	if mw, ok := p.Impl.(HTTPMiddleware); ok {
		pluginv1.RegisterMiddlewareServer(s, &middlewareServer{impl: mw, logger: logger})
	}
	if ep, ok := p.Impl.(EndpointPlugin); ok {
		pluginv1.RegisterEndpointServer(s, &endpointServer{impl: ep, logger: logger})
	}
	return nil
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
func (c *Client) Describe(ctx context.Context) (Manifest, error) {
	resp, err := c.plugin.Describe(ctx, &pluginv1.DescribeRequest{})
	if err != nil {
		return Manifest{}, fromStatus("describe", err)
	}
	return manifestFromProto(resp.GetManifest()), nil
}

// Configure sends the plugin its config section and the edge's facts.
// cfg.Logger is ignored.
func (c *Client) Configure(ctx context.Context, cfg Config) error {
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
func (c *Client) ConfigureResult(ctx context.Context, cfg Config) (ConfigureResult, error) {
	section := cfg.Section
	if section == nil {
		section = map[string]any{}
	}
	raw, err := json.Marshal(section)
	if err != nil {
		return ConfigureResult{}, fmt.Errorf("sdk: configure: encode config section: %w", err)
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
func (c *Client) OpenTunnel(ctx context.Context, t Tunnel) (OpenResult, error) {
	req := &pluginv1.OpenTunnelRequest{
		TunnelId:   t.ID,
		Account:    t.Account,
		Command:    t.Command,
		Host:       t.Host,
		Url:        t.URL,
		RemotePort: t.RemotePort,
		Values:     make(map[string]*pluginv1.StringList, len(t.Values)),
	}
	for k, v := range t.Values {
		req.Values[k] = &pluginv1.StringList{Values: v}
	}
	resp, err := c.plugin.OpenTunnel(ctx, req)
	if err != nil {
		return OpenResult{}, fromStatus("open tunnel", err)
	}
	return OpenResult{Protection: resp.GetProtection()}, nil
}

// CloseTunnel closes the tunnel with the given ID in the plugin.
func (c *Client) CloseTunnel(ctx context.Context, tunnelID string) error {
	_, err := c.plugin.CloseTunnel(ctx, &pluginv1.CloseTunnelRequest{TunnelId: tunnelID})
	return fromStatus("close tunnel", err)
}

// Check asks a middleware plugin about one request head. The verdict is
// returned as received; callers must Validate it.
func (c *Client) Check(ctx context.Context, req *Request) (Verdict, error) {
	resp, err := c.mw.Check(ctx, requestToProto(req))
	if err != nil {
		return Verdict{}, fromStatus("check", err)
	}
	return verdictFromProto(resp), nil
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
	return &pluginv1.OpenTunnelResponse{Protection: res.Protection}, nil
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

// completeManifest returns impl's manifest with the fields the SDK owns
// filled in.
func completeManifest(impl Plugin) Manifest {
	m := impl.Manifest()
	m.APIVersion = APIVersion
	_, m.HTTPMiddleware = impl.(HTTPMiddleware)
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
		return &UserError{Message: st.Message()}
	case codes.DeadlineExceeded:
		return fmt.Errorf("%s: %w", method, context.DeadlineExceeded)
	case codes.Internal, codes.Unknown:
		return fmt.Errorf("%s: %s", method, st.Message())
	}
	return fmt.Errorf("%s: %w", method, err)
}

func manifestToProto(m Manifest) *pluginv1.Manifest {
	pm := &pluginv1.Manifest{
		Name:           m.Name,
		Version:        m.Version,
		ApiVersion:     uint32(m.APIVersion),
		EndpointTypes:  m.EndpointTypes,
		ReservedPaths:  m.ReservedPaths,
		HttpMiddleware: m.HTTPMiddleware,
		Authenticates:  m.Authenticates,
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

func manifestFromProto(pm *pluginv1.Manifest) Manifest {
	m := Manifest{
		Name:           pm.GetName(),
		Version:        pm.GetVersion(),
		APIVersion:     int(pm.GetApiVersion()),
		EndpointTypes:  pm.GetEndpointTypes(),
		ReservedPaths:  pm.GetReservedPaths(),
		HTTPMiddleware: pm.GetHttpMiddleware(),
		Authenticates:  pm.GetAuthenticates(),
	}
	for _, e := range pm.GetEndpointTypeSpecs() {
		m.EndpointTypeSpecs = append(m.EndpointTypeSpecs, EndpointTypeSpec{
			Name:        e.GetName(),
			Summary:     e.GetSummary(),
			Ports:       e.GetPorts(),
			RemotePorts: e.GetRemotePorts(),
			Example:     e.GetExample(),
		})
	}
	for _, h := range pm.GetServedHosts() {
		m.ServedHosts = append(m.ServedHosts, ServedHost{Label: h.GetLabel(), Setting: h.GetSetting()})
	}
	for _, f := range pm.GetFlags() {
		m.Flags = append(m.Flags, FlagSpec{
			Name:       f.GetName(),
			Type:       FlagType(f.GetType()),
			Repeatable: f.GetRepeatable(),
			Help:       f.GetHelp(),
			ValueName:  f.GetValueName(),
			Sensitive:  f.GetSensitive(),
			Commands:   f.GetCommands(),
		})
	}
	return m
}

func headersToProto(h http.Header) []*pluginv1.Header {
	if len(h) == 0 {
		return nil
	}
	out := make([]*pluginv1.Header, 0, len(h))
	for name, values := range h {
		out = append(out, &pluginv1.Header{Name: name, Values: values})
	}
	return out
}

func headersFromProto(hs []*pluginv1.Header) http.Header {
	if len(hs) == 0 {
		return nil
	}
	h := make(http.Header, len(hs))
	for _, ph := range hs {
		name := http.CanonicalHeaderKey(ph.GetName())
		h[name] = append(h[name], ph.GetValues()...)
	}
	return h
}

func requestToProto(r *Request) *pluginv1.CheckRequest {
	pr := &pluginv1.CheckRequest{
		TunnelId: r.TunnelID,
		Method:   r.Method,
		Host:     r.Host,
		Path:     r.Path,
		RawQuery: r.RawQuery,
		Headers:  headersToProto(r.Header),
	}
	if r.ClientAddr.IsValid() {
		pr.ClientAddr = r.ClientAddr.String()
	}
	if r.TLS != nil {
		pr.Tls = &pluginv1.TLSFacts{ServerName: r.TLS.ServerName, Version: uint32(r.TLS.Version)}
	}
	return pr
}

func requestFromProto(pr *pluginv1.CheckRequest) *Request {
	r := &Request{
		TunnelID: pr.GetTunnelId(),
		Method:   pr.GetMethod(),
		Host:     pr.GetHost(),
		Path:     pr.GetPath(),
		RawQuery: pr.GetRawQuery(),
		Header:   headersFromProto(pr.GetHeaders()),
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
			Status:  int32(v.Respond.Status),
			Headers: headersToProto(v.Respond.Header),
			Body:    v.Respond.Body,
		}}
	case v.Continue != nil:
		resp.Verdict = &pluginv1.CheckResponse_Continue{Continue: &pluginv1.Continue{
			SetHeaders:    headersToProto(v.Continue.SetHeaders),
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
const maxTTLMillis = uint64(24 * time.Hour / time.Millisecond)

func verdictFromProto(resp *pluginv1.CheckResponse) Verdict {
	var v Verdict
	if r := resp.GetRespond(); r != nil {
		v.Respond = &Response{
			Status: int(r.GetStatus()),
			Header: headersFromProto(r.GetHeaders()),
			Body:   r.GetBody(),
		}
	}
	if c := resp.GetContinue(); c != nil {
		v.Continue = &Continue{
			SetHeaders:    headersFromProto(c.GetSetHeaders()),
			RemoveHeaders: c.GetRemoveHeaders(),
		}
		if id := c.GetIdentity(); id != nil {
			v.Continue.Identity = &Identity{ID: id.GetId(), Name: id.GetName(), Email: id.GetEmail()}
		}
	}
	if h := resp.GetCache(); h != nil && h.GetTtlMillis() > 0 {
		ms := min(h.GetTtlMillis(), maxTTLMillis)
		v.Cache = &CacheHint{DependsOn: h.GetDependsOn(), TTL: time.Duration(ms) * time.Millisecond}
	}
	return v
}
