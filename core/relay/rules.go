package relay

import (
	"fmt"
	"net/netip"

	"github.com/sshgress/sshgress/sdk"
)

// Rules are the connection rules of one endpoint, enforced at accept
// without asking the plugin.
type Rules struct {
	// Allow, when not empty, admits only visitors inside one of these
	// prefixes.
	Allow []netip.Prefix
	// Deny refuses visitors inside any of these prefixes; it wins over
	// Allow.
	Deny []netip.Prefix
	// ProxyProtocol is 0, 1 or 2: the PROXY header version written
	// upstream before the visitor's bytes.
	ProxyProtocol int
}

// RulesFrom parses a plugin's binding into Rules. The plugin validated it;
// a failure here means a broken plugin.
func RulesFrom(b sdk.Binding) (Rules, error) {
	var r Rules
	for _, c := range b.CIDRAllow {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return Rules{}, fmt.Errorf("relay: cidr allow: %w", err)
		}
		r.Allow = append(r.Allow, p.Masked())
	}
	for _, c := range b.CIDRDeny {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return Rules{}, fmt.Errorf("relay: cidr deny: %w", err)
		}
		r.Deny = append(r.Deny, p.Masked())
	}
	if b.ProxyProtocol < 0 || b.ProxyProtocol > 2 {
		return Rules{}, fmt.Errorf("relay: proxy protocol version %d", b.ProxyProtocol)
	}
	r.ProxyProtocol = b.ProxyProtocol
	return r, nil
}

// Admit reports whether a visitor from addr may connect. A visitor's
// address is compared as IPv4 when it is IPv4-mapped and without its zone,
// and a rule written as an IPv4-mapped prefix of /96 or longer
// (::ffff:10.0.0.0/104) means its IPv4 form (10.0.0.0/8); shorter IPv6
// prefixes (::/0) hold IPv6 visitors only. Deny wins over allow.
func (r *Rules) Admit(addr netip.Addr) bool {
	addr = addr.WithZone("").Unmap()
	for _, p := range r.Deny {
		if v4Prefix(p).Contains(addr) {
			return false
		}
	}
	if len(r.Allow) == 0 {
		return true
	}
	for _, p := range r.Allow {
		if v4Prefix(p).Contains(addr) {
			return true
		}
	}
	return false
}

// v4Prefix returns the IPv4 form of an IPv4-mapped prefix of /96 or
// longer, and p itself otherwise.
func v4Prefix(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked()
	}
	return p
}

// Protection describes the rules for the banner; nil when anyone may
// connect.
func (r *Rules) Protection() []string {
	var out []string
	if len(r.Allow) > 0 {
		out = append(out, "CIDR allow "+join(r.Allow))
	}
	if len(r.Deny) > 0 {
		out = append(out, "CIDR deny "+join(r.Deny))
	}
	return out
}

func join(ps []netip.Prefix) string {
	s := ""
	for i, p := range ps {
		if i > 0 {
			s += ", "
		}
		if i == 4 && len(ps) > 5 {
			return s + fmt.Sprintf("and %d more", len(ps)-4)
		}
		s += p.String()
	}
	return s
}
