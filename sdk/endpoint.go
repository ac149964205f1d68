package sdk

import (
	"context"
	"fmt"
	"net/netip"
)

// EndpointPlugin is a plugin that provides endpoint types (commands such as
// "tcp" or "tls", listed in Manifest.EndpointTypes). It is the control
// plane only: Bind validates a forward and says what to publish; the edge
// binds the public address, enforces the Binding's connection rules at
// accept and moves every byte. No call is made per visitor connection.
//
// Bindings live in the edge: after a plugin restart, Bind is not replayed,
// so an endpoint plugin should keep no state it needs for correctness.
type EndpointPlugin interface {
	Plugin
	// Bind validates one forward of one of the plugin's endpoint types and
	// returns what the edge publishes. Return an error made with
	// UserErrorf to refuse it: its text is shown verbatim to the owner.
	Bind(ctx context.Context, req BindRequest) (Binding, error)
	// Unbind tells the plugin a binding is gone. Unknown IDs are not an
	// error.
	Unbind(ctx context.Context, tunnelID string) error
}

// BindRequest is one forward to publish with a plugin's endpoint type.
type BindRequest struct {
	// TunnelID is unique among the edge's open tunnels.
	TunnelID string
	// Type is the endpoint type (the command the user typed), e.g. "tcp".
	Type string
	// Account is the tunnel's owner with its reservations.
	Account Account
	// RemoteName is the bind address the ssh client sent with -R: "",
	// "localhost", a label, or a full name such as "app.example.org".
	RemoteName string
	// RemotePort is the port the ssh client sent (0 = allocate).
	RemotePort uint32
	// Values holds the parsed values of this plugin's flags that were set,
	// keyed by flag name without dashes, in the order given.
	Values map[string][]string
}

// Account is a tunnel's owner as an endpoint plugin sees it.
type Account struct {
	// Name is the account name ("local" for the anonymous account).
	Name string
	// Anonymous marks the no-config loopback account, which reserves
	// nothing.
	Anonymous bool
	// Domains are the normalised names the account reserves.
	Domains []string
	// TCPAddresses are the "host:port" TCP addresses the account
	// reserves, normalised (lowercase host, decimal port).
	TCPAddresses []string
}

// Binding kinds.
const (
	// KindTCP publishes a public TCP port.
	KindTCP = "tcp"
	// KindTLS publishes an SNI name on the edge's shared TLS port; TLS is
	// passed through to the user's service without being terminated.
	KindTLS = "tls"
)

// MaxCIDRs bounds the prefixes of one Binding's allow and deny lists
// together.
const MaxCIDRs = 64

// Binding is what the edge publishes for one forward, and the connection
// rules it enforces itself at accept.
type Binding struct {
	// Kind is KindTCP or KindTLS.
	Kind string
	// Host is the public host shown in a tcp URL (tcp://Host:Port); "" means
	// the edge's base domain. Ignored for KindTLS.
	Host string
	// Port is the public TCP port for KindTCP. 0 asks the edge to allocate
	// a free port from PortMin to PortMax; the edge never hands out one of
	// its own ports or a port another account reserved. A non-zero Port
	// must be reserved by the account as Host:Port: the edge checks again.
	Port uint32
	// PortMin and PortMax bound an allocated port (inclusive).
	PortMin, PortMax uint32
	// SNIName is the name requested for KindTLS: "" for a random name under
	// the base domain, a label, or a full name. The edge resolves it with
	// the same rules as http names (reserved by the account, or a free
	// label under the base domain).
	SNIName string
	// CIDRAllow, when not empty, admits only visitors inside one of these
	// prefixes, e.g. "203.0.113.0/24".
	CIDRAllow []string
	// CIDRDeny refuses visitors inside any of these prefixes; deny wins
	// over allow.
	CIDRDeny []string
	// ProxyProtocol is 0 (none), 1 or 2: the PROXY protocol header version
	// the edge writes to the user's service before the visitor's bytes,
	// carrying the visitor's address.
	ProxyProtocol int
}

// Validate reports the first problem that makes b unusable by the edge.
func (b Binding) Validate() error {
	switch b.Kind {
	case KindTCP:
		if b.Port > 65535 {
			return fmt.Errorf("sdk: binding: port %d out of range", b.Port)
		}
		if b.Port == 0 && (b.PortMin == 0 || b.PortMax < b.PortMin || b.PortMax > 65535) {
			return fmt.Errorf("sdk: binding: port 0 needs a range 1 <= port_min <= port_max <= 65535, have %d-%d", b.PortMin, b.PortMax)
		}
	case KindTLS:
	default:
		return fmt.Errorf("sdk: binding: unknown kind %q (want %q or %q)", b.Kind, KindTCP, KindTLS)
	}
	if len(b.CIDRAllow)+len(b.CIDRDeny) > MaxCIDRs {
		return fmt.Errorf("sdk: binding: %d CIDR prefixes, at most %d", len(b.CIDRAllow)+len(b.CIDRDeny), MaxCIDRs)
	}
	for _, lists := range [][]string{b.CIDRAllow, b.CIDRDeny} {
		for _, c := range lists {
			if _, err := netip.ParsePrefix(c); err != nil {
				return fmt.Errorf("sdk: binding: %w", err)
			}
		}
	}
	if b.ProxyProtocol < 0 || b.ProxyProtocol > 2 {
		return fmt.Errorf("sdk: binding: proxy protocol version %d (want 0, 1 or 2)", b.ProxyProtocol)
	}
	return nil
}

// ParseCIDR parses a --cidr-allow/--cidr-deny value: a prefix
// ("203.0.113.0/24", "2001:db8::/32") or a single address, which means
// that address alone. The result is masked ("10.1.2.3/8" becomes
// "10.0.0.0/8"). Errors are UserErrors naming the flag.
func ParseCIDR(flag, s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	return netip.Prefix{}, UserErrorf("--%s %q is not a CIDR prefix like 203.0.113.0/24 or an IP address", flag, s)
}

// Names of the connection-rule flags (see ConnectionFlags).
const (
	FlagCIDRAllow  = "cidr-allow"
	FlagCIDRDeny   = "cidr-deny"
	FlagProxyProto = "proxy-proto"
)

// ConnectionFlags returns the flags of the connection rules the edge
// enforces for a plugin's endpoint type: --cidr-allow, --cidr-deny and
// --proxy-proto, applying to command only. Parse their values with
// ParseConnectionFlags.
func ConnectionFlags(command string) []FlagSpec {
	return []FlagSpec{
		{Name: FlagCIDRAllow, Type: FlagString, Repeatable: true, ValueName: "CIDR", Commands: []string{command},
			Help: "Accept visitors only from this IP range (repeatable), e.g. 203.0.113.0/24."},
		{Name: FlagCIDRDeny, Type: FlagString, Repeatable: true, ValueName: "CIDR", Commands: []string{command},
			Help: "Refuse visitors from this IP range (repeatable); deny wins over allow."},
		{Name: FlagProxyProto, Type: FlagInt, ValueName: "1|2", Commands: []string{command},
			Help: "Send a PROXY protocol header (version 1 or 2) with the visitor's address to your service."},
	}
}

// ParseConnectionFlags parses the values of ConnectionFlags into b's
// CIDRAllow, CIDRDeny and ProxyProtocol. Errors are UserErrors naming the
// flag.
func ParseConnectionFlags(values map[string][]string, b *Binding) error {
	for _, f := range []struct {
		name string
		dst  *[]string
	}{{FlagCIDRAllow, &b.CIDRAllow}, {FlagCIDRDeny, &b.CIDRDeny}} {
		for _, v := range values[f.name] {
			pfx, err := ParseCIDR(f.name, v)
			if err != nil {
				return err
			}
			*f.dst = append(*f.dst, pfx.String())
		}
	}
	if n := len(b.CIDRAllow) + len(b.CIDRDeny); n > MaxCIDRs {
		return UserErrorf("%d CIDR ranges given; at most %d", n, MaxCIDRs)
	}
	if vs := values[FlagProxyProto]; len(vs) > 0 {
		switch v := vs[len(vs)-1]; v {
		case "1":
			b.ProxyProtocol = 1
		case "2":
			b.ProxyProtocol = 2
		default:
			return UserErrorf("--%s %s: want 1 or 2 (the PROXY protocol version your service reads)", FlagProxyProto, v)
		}
	}
	return nil
}
