package host

// The proto → sdk converters of what a plugin answers, and sdk → proto of
// what the edge asks (the plugin side's mirror images live in package sdk).

import (
	"math"
	"time"

	"github.com/sshgress/sshgress/sdk"
	"github.com/sshgress/sshgress/sdk/internal/wire"
	pluginv1 "github.com/sshgress/sshgress/sdk/proto/plugin/v1"
)

func manifestFromProto(pm *pluginv1.Manifest) sdk.Manifest {
	m := sdk.Manifest{
		Name:           pm.GetName(),
		Version:        pm.GetVersion(),
		APIVersion:     int(pm.GetApiVersion()),
		EndpointTypes:  pm.GetEndpointTypes(),
		ReservedPaths:  pm.GetReservedPaths(),
		HTTPMiddleware: pm.GetHttpMiddleware(),
		ResponseHead:   pm.GetResponseHead(),
		Authenticates:  pm.GetAuthenticates(),
		RequestBody:    pm.GetRequestBody(),
	}
	for _, e := range pm.GetEndpointTypeSpecs() {
		m.EndpointTypeSpecs = append(m.EndpointTypeSpecs, sdk.EndpointTypeSpec{
			Name:        e.GetName(),
			Summary:     e.GetSummary(),
			Ports:       e.GetPorts(),
			RemotePorts: e.GetRemotePorts(),
			Example:     e.GetExample(),
		})
	}
	for _, h := range pm.GetServedHosts() {
		m.ServedHosts = append(m.ServedHosts, sdk.ServedHost{Label: h.GetLabel(), Setting: h.GetSetting()})
	}
	for _, f := range pm.GetFlags() {
		m.Flags = append(m.Flags, sdk.FlagSpec{
			Name:       f.GetName(),
			Type:       sdk.FlagType(f.GetType()),
			Repeatable: f.GetRepeatable(),
			Help:       f.GetHelp(),
			ValueName:  f.GetValueName(),
			Sensitive:  f.GetSensitive(),
			Commands:   f.GetCommands(),
		})
	}
	return m
}

// staticRulesFromProto converts a plugin's rules; nil when it sent none.
func staticRulesFromProto(pr *pluginv1.StaticRules) *sdk.StaticRules {
	if pr == nil {
		return nil
	}
	r := &sdk.StaticRules{
		CIDRAllow:      pr.GetCidrAllow(),
		CIDRDeny:       pr.GetCidrDeny(),
		UserAgentAllow: pr.GetUserAgentAllow(),
		UserAgentDeny:  pr.GetUserAgentDeny(),
		Headers:        headerEditsFromProto(pr.GetHeaderEdits()),
	}
	if l := pr.GetRateLimit(); l != nil {
		r.RateLimit = &sdk.RateLimit{
			Requests:  int(l.GetRequests()),
			Period:    msDuration(l.GetPeriodMs()),
			KeyHeader: l.GetKeyHeader(),
		}
	}
	if b := pr.GetCircuitBreaker(); b != nil {
		r.CircuitBreaker = &sdk.CircuitBreaker{
			Ratio:   b.GetRatio(),
			Volume:  int(b.GetVolume()),
			Window:  msDuration(b.GetWindowMs()),
			Tripped: msDuration(b.GetTrippedMs()),
		}
	}
	if r.Empty() {
		return nil
	}
	return r
}

// msDuration converts milliseconds from the wire; a value too large for a
// Duration becomes -1, which every rule's Validate refuses.
func msDuration(ms int64) time.Duration {
	if ms < 0 || ms > int64(math.MaxInt64/time.Millisecond) {
		return -1
	}
	return time.Duration(ms) * time.Millisecond
}

// headerEditsFromProto converts a plugin's header edits; zero for none.
func headerEditsFromProto(pe *pluginv1.HeaderEdits) sdk.HeaderEdits {
	fields := func(pfs []*pluginv1.HeaderField) []sdk.HeaderField {
		if len(pfs) == 0 {
			return nil
		}
		out := make([]sdk.HeaderField, len(pfs))
		for i, f := range pfs {
			out[i] = sdk.HeaderField{Name: f.GetName(), Value: f.GetValue()}
		}
		return out
	}
	return sdk.HeaderEdits{
		RequestRemove:  pe.GetRequestRemove(),
		RequestAdd:     fields(pe.GetRequestAdd()),
		ResponseRemove: pe.GetResponseRemove(),
		ResponseAdd:    fields(pe.GetResponseAdd()),
		Host:           pe.GetHost(),
	}
}

func requestToProto(r *sdk.Request) *pluginv1.CheckRequest {
	pr := &pluginv1.CheckRequest{
		TunnelId: r.TunnelID,
		Method:   r.Method,
		Host:     r.Host,
		Path:     r.Path,
		RawQuery: r.RawQuery,
		Headers:  wire.HeadersToProto(r.Header),
		Body:     r.Body,
	}
	if r.ClientAddr.IsValid() {
		pr.ClientAddr = r.ClientAddr.String()
	}
	if r.TLS != nil {
		pr.Tls = &pluginv1.TLSFacts{ServerName: r.TLS.ServerName, Version: uint32(r.TLS.Version)}
	}
	return pr
}

const maxTTLMillis = uint64(24 * time.Hour / time.Millisecond)

func verdictFromProto(resp *pluginv1.CheckResponse) sdk.Verdict {
	var v sdk.Verdict
	if r := resp.GetRespond(); r != nil {
		v.Respond = &sdk.Response{
			Status:    int(r.GetStatus()),
			Header:    wire.HeadersFromProto(r.GetHeaders()),
			Body:      r.GetBody(),
			OwnerNote: r.GetOwnerNote(),
		}
	}
	if c := resp.GetContinue(); c != nil {
		v.Continue = &sdk.Continue{
			SetHeaders:    wire.HeadersFromProto(c.GetSetHeaders()),
			RemoveHeaders: c.GetRemoveHeaders(),
		}
		if id := c.GetIdentity(); id != nil {
			v.Continue.Identity = &sdk.Identity{ID: id.GetId(), Name: id.GetName(), Email: id.GetEmail()}
		}
	}
	if h := resp.GetCache(); h != nil && h.GetTtlMillis() > 0 {
		ms := min(h.GetTtlMillis(), maxTTLMillis)
		v.Cache = &sdk.CacheHint{DependsOn: h.GetDependsOn(), TTL: time.Duration(ms) * time.Millisecond}
	}
	return v
}

func responseHeadToProto(h *sdk.ResponseHead) *pluginv1.ReviewResponseRequest {
	pr := &pluginv1.ReviewResponseRequest{
		TunnelId: h.TunnelID,
		Method:   h.Method,
		Host:     h.Host,
		Path:     h.Path,
		Status:   int32(h.Status),
		Headers:  wire.HeadersToProto(h.Header),
	}
	if id := h.Identity; id != nil {
		pr.Identity = &pluginv1.Identity{Id: id.ID, Name: id.Name, Email: id.Email}
	}
	return pr
}

func responseEditsFromProto(resp *pluginv1.ReviewResponseResponse) sdk.ResponseEdits {
	e := sdk.ResponseEdits{
		SetHeaders:    wire.HeadersFromProto(resp.GetSetHeaders()),
		RemoveHeaders: resp.GetRemoveHeaders(),
	}
	if h := resp.GetCache(); h != nil && h.GetTtlMillis() > 0 {
		ms := min(h.GetTtlMillis(), maxTTLMillis)
		e.Cache = &sdk.CacheHint{DependsOn: h.GetDependsOn(), TTL: time.Duration(ms) * time.Millisecond}
	}
	return e
}
