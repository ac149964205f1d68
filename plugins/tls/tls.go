// Package tls is the bundled sshgress plugin behind the tls command: TLS
// passthrough by SNI on the edge's shared TLS port.
//
//	ssh -R app.example.org:443:localhost:8443 v2@edge tls   # a name reserved for the account
//	ssh -R myapp:443:localhost:8443 v2@edge tls             # myapp.<base domain>
//	ssh -R 0:localhost:8443 v2@edge tls                     # a random name under the base domain
//
// The edge reads the visitor's ClientHello, routes it by SNI and splices the
// raw bytes to the user's service, which terminates TLS with its own
// certificate: the edge never sees the plaintext. The plugin applies
// ngrok's port rule (remote port 443 or 0), checks the name against the
// account's reservations (the edge checks again with the same rules as for
// http names) and parses --cidr-allow, --cidr-deny and --proxy-proto; the
// edge enforces them at accept.
//
// The plugin has no settings. It imports sdk only, like every plugin.
package tls

import (
	"context"
	"net/netip"
	"strings"
	"sync"

	"github.com/sshgress/sshgress/sdk"
)

// Name is the plugin's name in the edge's config.
const Name = "tls"

// version is the plugin's own version, reported in its manifest.
const version = "1.0.0"

// plugin implements sdk.EndpointPlugin.
type plugin struct {
	mu   sync.RWMutex
	base string
}

var _ sdk.EndpointPlugin = (*plugin)(nil)

// New returns the tls plugin, ready for sdk.Serve(tls.New()).
func New() sdk.EndpointPlugin { return &plugin{base: "localhost"} }

// Manifest declares the tls endpoint type, its remote ports (443 or 0,
// which the edge checks before Bind, as Bind does again) and its flags.
func (p *plugin) Manifest() sdk.Manifest {
	return sdk.Manifest{
		Name:    Name,
		Version: version,
		EndpointTypeSpecs: []sdk.EndpointTypeSpec{{
			Name:        Name,
			Summary:     "Publish a local TLS service by name; your service keeps its own certificate",
			Ports:       remotePorts,
			RemotePorts: []uint32{443, 0},
			Example:     "ssh -R myapp:443:localhost:8443 v2@{host} tls",
		}},
		Flags: sdk.ConnectionFlags(Name),
	}
}

// remotePorts is the remote-port rule as users read it.
const remotePorts = "443 or 0"

// Configure accepts an empty section only.
func (p *plugin) Configure(_ context.Context, cfg sdk.Config) error {
	if err := cfg.NoSettings("tls"); err != nil {
		return err
	}
	p.mu.Lock()
	if cfg.BaseDomain != "" {
		p.base = cfg.BaseDomain
	}
	p.mu.Unlock()
	return nil
}

// Bind applies the port rule, a first name check and the flags.
func (p *plugin) Bind(_ context.Context, req sdk.BindRequest) (sdk.Binding, error) {
	p.mu.RLock()
	base := p.base
	p.mu.RUnlock()
	if req.RemotePort != 443 && req.RemotePort != 0 {
		return sdk.Binding{}, sdk.UserErrorf("%s", sdk.RemotePortHint(Name, remotePorts, req.RemoteName, req.RemotePort, 443))
	}
	name := strings.ToLower(strings.TrimSuffix(req.RemoteName, "."))
	if name == "localhost" || name == "*" {
		name = ""
	}
	if _, err := netip.ParseAddr(strings.Trim(name, "[]")); err == nil {
		return sdk.Binding{}, sdk.UserErrorf("tls endpoints are reached by name (SNI), not by IP address: give a domain name instead of %s, or leave it out for a random name", req.RemoteName)
	}
	if strings.Contains(name, ".") && !strings.HasSuffix(name, "."+base) && !reserved(req.Account, name) {
		return sdk.Binding{}, sdk.UserErrorf("%s is not reserved by your account; ask the operator to add it to your account's domains, or use a subdomain of %s", name, base)
	}
	b := sdk.Binding{Kind: sdk.KindTLS, SNIName: name}
	if err := sdk.ParseConnectionFlags(req.Values, &b); err != nil {
		return sdk.Binding{}, err
	}
	return b, nil
}

// Unbind does nothing: bindings live in the edge.
func (p *plugin) Unbind(context.Context, string) error { return nil }

// reserved reports whether acct reserves name, exactly or by a wildcard
// one label up.
func reserved(acct sdk.Account, name string) bool {
	if acct.Anonymous {
		return false
	}
	_, parent, _ := strings.Cut(name, ".")
	for _, d := range acct.Domains {
		if d == name || d == "*."+parent {
			return true
		}
	}
	return false
}
