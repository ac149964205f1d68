// Package ipfilter is the bundled sshgress plugin behind ngrok's HTTP
// traffic filters on the http command:
//
//	ssh -R 443:localhost:3000 v2@edge http --cidr-allow 203.0.113.0/24 --cidr-deny 203.0.113.7
//	ssh -R 443:localhost:3000 v2@edge http --ua-filter-deny '(?i)curl|wget' --basic-auth 'ann:correct-horse'
//
// --cidr-allow / --cidr-deny take a prefix or an address (repeatable, at
// most sdk.MaxCIDRs together); --ua-filter-allow / --ua-filter-deny take
// RE2 expressions matched, unanchored, against the User-Agent header
// (repeatable, at most sdk.MaxUserAgentRules together, each at most
// sdk.MaxRegexpBytes). Deny wins over allow; with allow rules, a visitor
// matching none is refused.
//
// The plugin is the control plane only: OpenTunnel validates the values
// and returns them as sdk.StaticRules, which the edge enforces itself for
// every request, with its 403 page and no call to the plugin. So the
// plugin implements no Check at all, and a tunnel keeps its rules while
// the plugin restarts. It is not an auth method: it combines with
// --basic-auth or --oauth.
//
// The package imports sdk only, like every plugin.
package ipfilter

import (
	"context"
	"fmt"

	"github.com/sshgress/sshgress/sdk"
)

const (
	// Name is the plugin's name in the edge's config.
	Name = "ipfilter"
	// FlagCIDRAllow, FlagCIDRDeny, FlagUAAllow and FlagUADeny are the
	// flags the plugin owns on http, ngrok's names.
	FlagCIDRAllow = sdk.FlagCIDRAllow
	FlagCIDRDeny  = sdk.FlagCIDRDeny
	FlagUAAllow   = "ua-filter-allow"
	FlagUADeny    = "ua-filter-deny"
)

// command is the only command the flags apply to: tcp and tls tunnels
// have their own --cidr-allow / --cidr-deny, enforced at accept.
const command = "http"

// version is the plugin's own version, reported in its manifest.
const version = "1.0.0"

// plugin implements sdk.TunnelHooks; it keeps no state.
type plugin struct{}

var _ sdk.TunnelHooks = (*plugin)(nil)

// New returns the ipfilter plugin, ready for sdk.Serve(ipfilter.New()).
func New() sdk.Plugin { return &plugin{} }

// Manifest declares the four filter flags for http tunnels.
func (p *plugin) Manifest() sdk.Manifest {
	http := []string{command}
	return sdk.Manifest{
		Name:    Name,
		Version: version,
		// --cidr-allow and --cidr-deny as the endpoint types declare them
		// (sdk.ConnectionFlags), for http; --proxy-proto is not for http.
		Flags: append(cidrFlags(),
			sdk.FlagSpec{Name: FlagUAAllow, Type: sdk.FlagString, Repeatable: true, ValueName: "REGEX", Commands: http,
				Help: "Accept only requests whose User-Agent matches this RE2 expression (repeatable)."},
			sdk.FlagSpec{Name: FlagUADeny, Type: sdk.FlagString, Repeatable: true, ValueName: "REGEX", Commands: http,
				Help: "Refuse requests whose User-Agent matches this RE2 expression with 403 (repeatable); deny wins."},
		),
	}
}

// cidrFlags returns sdk.ConnectionFlags' --cidr-allow and --cidr-deny for
// http.
func cidrFlags() []sdk.FlagSpec {
	var out []sdk.FlagSpec
	for _, f := range sdk.ConnectionFlags(command) {
		if f.Name == FlagCIDRAllow || f.Name == FlagCIDRDeny {
			out = append(out, f)
		}
	}
	return out
}

// Configure accepts an empty section only: the plugin has no settings.
func (p *plugin) Configure(_ context.Context, cfg sdk.Config) error {
	return cfg.NoSettings(Name)
}

// OpenTunnel validates the flag values and returns them as the tunnel's
// static rules. A bad value refuses the tunnel with a sentence naming the
// flag and the value.
func (p *plugin) OpenTunnel(_ context.Context, t sdk.Tunnel) (sdk.OpenResult, error) {
	rules, err := ParseRules(t.Values)
	if err != nil {
		return sdk.OpenResult{}, err
	}
	return sdk.OpenResult{Rules: &rules}, nil
}

// CloseTunnel has nothing to forget.
func (p *plugin) CloseTunnel(context.Context, string) error { return nil }

// ParseRules turns the plugin's flag values into static rules. Errors are
// sdk.UserErrors fit for the tunnel's owner.
func ParseRules(values map[string][]string) (sdk.StaticRules, error) {
	// The CIDR values parse as the endpoint types' connection rules do.
	var b sdk.Binding
	cidrs := map[string][]string{FlagCIDRAllow: values[FlagCIDRAllow], FlagCIDRDeny: values[FlagCIDRDeny]}
	if err := sdk.ParseConnectionFlags(cidrs, &b); err != nil {
		return sdk.StaticRules{}, err
	}
	r := sdk.StaticRules{CIDRAllow: b.CIDRAllow, CIDRDeny: b.CIDRDeny}
	for _, f := range []struct {
		name string
		dst  *[]string
	}{{FlagUAAllow, &r.UserAgentAllow}, {FlagUADeny, &r.UserAgentDeny}} {
		for _, v := range values[f.name] {
			if _, err := sdk.ParseUserAgentRegexp(f.name, v); err != nil {
				return sdk.StaticRules{}, err
			}
			*f.dst = append(*f.dst, v)
		}
	}
	if n := len(r.UserAgentAllow) + len(r.UserAgentDeny); n > sdk.MaxUserAgentRules {
		return sdk.StaticRules{}, sdk.UserErrorf("%d expressions given with --%s and --%s; at most %d", n, FlagUAAllow, FlagUADeny, sdk.MaxUserAgentRules)
	}
	if r.Empty() {
		return sdk.StaticRules{}, sdk.UserErrorf("give --%s, --%s, --%s or --%s a value", FlagCIDRAllow, FlagCIDRDeny, FlagUAAllow, FlagUADeny)
	}
	if err := r.Validate(); err != nil {
		return sdk.StaticRules{}, fmt.Errorf("ipfilter: %w", err)
	}
	return r, nil
}
