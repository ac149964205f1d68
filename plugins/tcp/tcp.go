// Package tcp is the bundled sshgress plugin behind the tcp command: a
// public TCP port per tunnel.
//
//	ssh -R 0:localhost:22 v2@edge tcp                               # a port from the operator's range
//	ssh -R tunnel.example.com:20002:localhost:22 v2@edge tcp        # a TCP address reserved for the account
//	ssh -R 0:localhost:5432 v2@edge tcp --cidr-allow 203.0.113.0/24 --proxy-proto 2
//
// The plugin is the control plane only: Bind checks ngrok's port rule
// (remote port 0, or exactly a host:port reserved for the account), parses
// the flags and returns an sdk.Binding. The edge allocates the port, checks
// the reservation again, enforces --cidr-allow/--cidr-deny at accept, writes
// the PROXY header and moves the bytes; no call reaches the plugin per
// connection.
//
// Config (plugins.tcp.config):
//
//	port_range:  "20000-29999"          # ports handed out for remote port 0
//	public_host: "tunnel.example.com"   # host in tcp:// URLs; default the base domain
//
// The package imports sdk only, like every plugin.
package tcp

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/sshgress/sshgress/sdk"
)

const (
	// Name is the plugin's name in the edge's config.
	Name = "tcp"
	// DefaultPortRange is the range of allocated ports when the operator
	// sets none.
	DefaultPortRange = "20000-29999"
)

// version is the plugin's own version, reported in its manifest.
const version = "1.0.0"

// settings are the validated config.
type settings struct {
	portMin, portMax uint32
	publicHost       string
}

// plugin implements sdk.EndpointPlugin.
type plugin struct {
	mu     sync.RWMutex
	cfg    settings
	logger *slog.Logger
}

var _ sdk.EndpointPlugin = (*plugin)(nil)

// New returns the tcp plugin, ready for sdk.Serve(tcp.New()).
func New() sdk.EndpointPlugin {
	min, max, _ := ParsePortRange(DefaultPortRange)
	return &plugin{
		cfg:    settings{portMin: min, portMax: max, publicHost: "localhost"},
		logger: slog.New(slog.DiscardHandler),
	}
}

// Manifest declares the tcp endpoint type and its flags. Its remote
// ports are left to Bind: 0, or a reserved address of any port.
func (p *plugin) Manifest() sdk.Manifest {
	return sdk.Manifest{
		Name:    Name,
		Version: version,
		EndpointTypeSpecs: []sdk.EndpointTypeSpec{{
			Name:    Name,
			Summary: "Publish a local TCP service at a public port",
			Ports:   "0 (a random port), or a TCP address reserved for your account",
			Example: "ssh -R 0:localhost:22 v2@{host} tcp",
		}},
		Flags: sdk.ConnectionFlags(Name),
	}
}

// Configure reads port_range and public_host.
func (p *plugin) Configure(_ context.Context, cfg sdk.Config) error {
	s := settings{publicHost: cfg.BaseDomain}
	var err error
	if s.portMin, s.portMax, err = ParsePortRange(DefaultPortRange); err != nil {
		return err
	}
	var raw struct {
		PortRange  *string `json:"port_range"`
		PublicHost *string `json:"public_host"`
	}
	if err := cfg.Decode(&raw); err != nil {
		return fmt.Errorf("tcp: configure: %w (known: port_range, public_host)", err)
	}
	if raw.PortRange != nil {
		if s.portMin, s.portMax, err = ParsePortRange(*raw.PortRange); err != nil {
			return fmt.Errorf("tcp: configure: port_range: %w", err)
		}
	}
	if h := raw.PublicHost; h != nil {
		if strings.TrimSpace(*h) == "" || strings.ContainsAny(*h, " /:@") {
			return fmt.Errorf("tcp: configure: public_host: want a host name or IP address such as tunnel.example.com")
		}
		s.publicHost = strings.ToLower(strings.TrimSuffix(*h, "."))
	}
	if s.publicHost == "" {
		s.publicHost = "localhost"
	}
	p.mu.Lock()
	p.cfg = s
	if cfg.Logger != nil {
		p.logger = cfg.Logger
	}
	p.mu.Unlock()
	return nil
}

// ParsePortRange parses "LOW-HIGH" (inclusive, 1 to 65535) or a single
// port.
func ParsePortRange(s string) (lo, hi uint32, err error) {
	a, b, found := strings.Cut(strings.TrimSpace(s), "-")
	if !found {
		b = a
	}
	x, err1 := strconv.ParseUint(strings.TrimSpace(a), 10, 16)
	y, err2 := strconv.ParseUint(strings.TrimSpace(b), 10, 16)
	if err1 != nil || err2 != nil || x == 0 || y < x {
		return 0, 0, fmt.Errorf("%q: want LOW-HIGH with 1 <= LOW <= HIGH <= 65535, e.g. %s", s, DefaultPortRange)
	}
	return uint32(x), uint32(y), nil
}

// Bind applies ngrok's port rule and the flags.
func (p *plugin) Bind(_ context.Context, req sdk.BindRequest) (sdk.Binding, error) {
	p.mu.RLock()
	cfg := p.cfg
	p.mu.RUnlock()
	b := sdk.Binding{Kind: sdk.KindTCP, Host: cfg.publicHost}
	if err := sdk.ParseConnectionFlags(req.Values, &b); err != nil {
		return sdk.Binding{}, err
	}
	name := strings.ToLower(strings.TrimSuffix(req.RemoteName, "."))
	if req.RemotePort == 0 {
		if !defaultName(name) && !reservedHost(req.Account, name) && name != cfg.publicHost {
			return sdk.Binding{}, sdk.UserErrorf("remote port 0 gives you a random public port; leave out the name %q (-R 0:localhost:PORT)", req.RemoteName)
		}
		b.PortMin, b.PortMax = cfg.portMin, cfg.portMax
		return b, nil
	}
	addr, ok := reservedAddr(req.Account, name, req.RemotePort)
	if !ok {
		return sdk.Binding{}, portRuleError(req.Account, req.RemotePort)
	}
	host, port, _ := net.SplitHostPort(addr)
	n, _ := strconv.ParseUint(port, 10, 16)
	b.Host, b.Port = host, uint32(n)
	return b, nil
}

// Unbind does nothing: bindings live in the edge.
func (p *plugin) Unbind(context.Context, string) error { return nil }

func defaultName(name string) bool {
	return name == "" || name == "localhost" || name == "*" || name == "0.0.0.0" || name == "::"
}

// reservedHost reports whether the account reserves any address on host.
func reservedHost(acct sdk.Account, host string) bool {
	for _, a := range acct.TCPAddresses {
		if h, _, err := net.SplitHostPort(a); err == nil && h == host {
			return true
		}
	}
	return false
}

// reservedAddr finds the account's reservation for name:port. A default
// name ("localhost", "") matches when the account reserves exactly one
// address with that port.
func reservedAddr(acct sdk.Account, name string, port uint32) (string, bool) {
	if acct.Anonymous {
		return "", false
	}
	want := strconv.FormatUint(uint64(port), 10)
	var matches []string
	for _, a := range acct.TCPAddresses {
		h, p, err := net.SplitHostPort(a)
		if err != nil || p != want {
			continue
		}
		if h == name {
			return a, true
		}
		if defaultName(name) {
			matches = append(matches, a)
		}
	}
	if len(matches) == 1 {
		return matches[0], true
	}
	return "", false
}

// portRuleError is ngrok's rule, with the account's reservations.
func portRuleError(acct sdk.Account, port uint32) error {
	msg := fmt.Sprintf("tcp endpoints listen on remote port 0 (a random port) or on a TCP address reserved for your account; port %d is not reserved for you. Use -R 0:localhost:PORT", port)
	if len(acct.TCPAddresses) > 0 && !acct.Anonymous {
		msg += ", or one of your reserved addresses: -R " + strings.Join(acct.TCPAddresses, ", -R ")
	}
	return sdk.UserErrorf("%s", msg)
}
