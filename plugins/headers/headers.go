// Package headers is the bundled sshgress plugin behind ngrok's header
// rewriting flags on the http command:
//
//	ssh -R 443:localhost:3000 v2@edge http --request-header-add 'X-Env: staging' --request-header-remove Referer
//	ssh -R 443:localhost:3000 v2@edge http --response-header-add 'X-Frame-Options: DENY' --response-header-remove Server
//	ssh -R 443:localhost:3000 v2@edge http --host-header localhost:3000
//
// --request-header-add / --response-header-add take "Name: value" and add
// one more field (a header that is there keeps its values, as ngrok's
// add-headers does); --request-header-remove / --response-header-remove
// take a name. All four are repeatable; removals come before additions,
// so removing and adding one name replaces it. --host-header VALUE sets
// the Host header the local service gets (X-Forwarded-Host keeps the
// public name).
//
// --host-header rewrite is ngrok's "set Host to the local target". An ssh
// -R forward never tells the edge its target: the client sends the
// remote side of the forward only (RFC 4254 7.1, tcpip-forward), and
// keeps "localhost:3000" to itself. So rewrite sets Host to "localhost",
// the name dev servers accept, without a port; the banner says so, and
// a service that needs the port gets it with --host-header
// localhost:3000.
//
// Edge-owned headers (X-Forwarded-*, Forwarded, client-address and
// X-Sshgress-* identity headers), hop-by-hop and framing headers cannot
// be set or removed (sdk.HeaderNotEditable); values are one line of text;
// at most sdk.MaxHeaderEdits edits and sdk.MaxHeaderEditBytes bytes
// together.
//
// The plugin is the control plane only: OpenTunnel validates the values
// and returns them as sdk.StaticRules.Headers, which the edge applies
// itself to every request (after any middleware's verdict) and every
// response of its service, with no call to the plugin. So it implements
// no Check, and a tunnel keeps its edits while the plugin restarts. It is
// not an auth method: it combines with --basic-auth or --oauth.
//
// The package imports sdk only, like every plugin.
package headers

import (
	"context"
	"fmt"
	"strings"

	"github.com/sshgress/sshgress/sdk"
)

const (
	// Name is the plugin's name in the edge's config.
	Name = "headers"
	// The flags the plugin owns on http, ngrok's names.
	FlagRequestAdd     = "request-header-add"
	FlagRequestRemove  = "request-header-remove"
	FlagResponseAdd    = "response-header-add"
	FlagResponseRemove = "response-header-remove"
	FlagHostHeader     = "host-header"
	// Rewrite is --host-header's value for "the local target".
	Rewrite = "rewrite"
	// RewriteHost is the Host that Rewrite sets: ssh -R does not tell the
	// edge the forward's local target (see the package doc).
	RewriteHost = "localhost"
)

// command is the only command the flags apply to.
const command = "http"

// version is the plugin's own version, reported in its manifest.
const version = "1.0.0"

// plugin implements sdk.TunnelHooks; it keeps no state.
type plugin struct{}

var _ sdk.TunnelHooks = (*plugin)(nil)

// New returns the headers plugin, ready for sdk.Serve(headers.New()).
func New() sdk.Plugin { return &plugin{} }

// Manifest declares the five header flags for http tunnels.
func (p *plugin) Manifest() sdk.Manifest {
	http := []string{command}
	return sdk.Manifest{
		Name:    Name,
		Version: version,
		Flags: []sdk.FlagSpec{
			// Sensitive: a value added to requests may be a credential
			// for the local service (Authorization: Bearer …).
			{Name: FlagRequestAdd, Type: sdk.FlagString, Repeatable: true, ValueName: "'NAME: VALUE'", Commands: http, Sensitive: true,
				Help: "Add this header to every request before it reaches your service (repeatable)."},
			{Name: FlagRequestRemove, Type: sdk.FlagString, Repeatable: true, ValueName: "NAME", Commands: http,
				Help: "Remove this header from every request (repeatable)."},
			{Name: FlagResponseAdd, Type: sdk.FlagString, Repeatable: true, ValueName: "'NAME: VALUE'", Commands: http,
				Help: "Add this header to every response of your service (repeatable)."},
			{Name: FlagResponseRemove, Type: sdk.FlagString, Repeatable: true, ValueName: "NAME", Commands: http,
				Help: "Remove this header from every response of your service (repeatable)."},
			{Name: FlagHostHeader, Type: sdk.FlagString, ValueName: "HOST|rewrite", Commands: http,
				Help: "Send this Host header to your service; rewrite sends \"localhost\" (ssh -R does not tell the edge your local port)."},
		},
	}
}

// Configure accepts an empty section only: the plugin has no settings.
func (p *plugin) Configure(_ context.Context, cfg sdk.Config) error {
	return cfg.NoSettings(Name)
}

// OpenTunnel validates the flag values and returns them as the tunnel's
// static header edits. A bad value refuses the tunnel with a sentence
// naming the flag.
func (p *plugin) OpenTunnel(_ context.Context, t sdk.Tunnel) (sdk.OpenResult, error) {
	edits, err := ParseEdits(t.Values)
	if err != nil {
		return sdk.OpenResult{}, err
	}
	res := sdk.OpenResult{Rules: &sdk.StaticRules{Headers: edits}}
	if len(t.Values[FlagHostHeader]) > 0 && t.Values[FlagHostHeader][0] == Rewrite {
		res.Protection = fmt.Sprintf("--host-header rewrite sends Host %s: ssh -R does not tell the edge your local port; give --host-header localhost:PORT if your service needs it", RewriteHost)
	}
	return res, nil
}

// CloseTunnel has nothing to forget.
func (p *plugin) CloseTunnel(context.Context, string) error { return nil }

// ParseEdits turns the plugin's flag values into header edits. Errors are
// sdk.UserErrors fit for the tunnel's owner; they never repeat a value.
func ParseEdits(values map[string][]string) (sdk.HeaderEdits, error) {
	var e sdk.HeaderEdits
	for _, f := range []struct {
		flag string
		dst  *[]sdk.HeaderField
	}{{FlagRequestAdd, &e.RequestAdd}, {FlagResponseAdd, &e.ResponseAdd}} {
		for _, v := range values[f.flag] {
			if err := refuseHost(f.flag, v); err != nil {
				return sdk.HeaderEdits{}, err
			}
			hf, err := sdk.ParseHeaderField(f.flag, v)
			if err != nil {
				return sdk.HeaderEdits{}, err
			}
			*f.dst = append(*f.dst, hf)
		}
	}
	for _, f := range []struct {
		flag string
		dst  *[]string
	}{{FlagRequestRemove, &e.RequestRemove}, {FlagResponseRemove, &e.ResponseRemove}} {
		for _, v := range values[f.flag] {
			if err := refuseHost(f.flag, v); err != nil {
				return sdk.HeaderEdits{}, err
			}
			name, err := sdk.ParseHeaderName(f.flag, v)
			if err != nil {
				return sdk.HeaderEdits{}, err
			}
			*f.dst = append(*f.dst, name)
		}
	}
	if hv := values[FlagHostHeader]; len(hv) > 0 {
		switch host := hv[0]; {
		case host == Rewrite:
			e.Host = RewriteHost
		case sdk.ValidHostHeader(host):
			e.Host = host
		default:
			return sdk.HeaderEdits{}, sdk.UserErrorf("--%s %q is not a host name or address with an optional port, like localhost:3000, or %q", FlagHostHeader, host, Rewrite)
		}
	}
	if n := e.Count(); n > sdk.MaxHeaderEdits {
		return sdk.HeaderEdits{}, sdk.UserErrorf("%d header edits given; at most %d together", n, sdk.MaxHeaderEdits)
	}
	if n := e.Bytes(); n > sdk.MaxHeaderEditBytes {
		return sdk.HeaderEdits{}, sdk.UserErrorf("the header edits are %d bytes together; at most %d", n, sdk.MaxHeaderEditBytes)
	}
	if e.Empty() {
		return sdk.HeaderEdits{}, sdk.UserErrorf("give --%s, --%s, --%s, --%s or --%s a value", FlagRequestAdd, FlagRequestRemove, FlagResponseAdd, FlagResponseRemove, FlagHostHeader)
	}
	if err := e.Validate(); err != nil {
		return sdk.HeaderEdits{}, fmt.Errorf("headers: %w", err)
	}
	return e, nil
}

// refuseHost refuses an add or remove of Host with the flag that sets
// it; nil for another name. v is the flag's value.
func refuseHost(flag, v string) error {
	name, _, _ := strings.Cut(v, ":")
	if strings.EqualFold(strings.TrimSpace(name), "Host") {
		return sdk.UserErrorf("--%s cannot edit the Host header; use --%s HOST (or --%s %s)", flag, FlagHostHeader, FlagHostHeader, Rewrite)
	}
	return nil
}
