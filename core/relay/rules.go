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
	r, err := CIDRRules(b.CIDRAllow, b.CIDRDeny)
	if err != nil {
		return Rules{}, err
	}
	if b.ProxyProtocol < 0 || b.ProxyProtocol > 2 {
		return Rules{}, fmt.Errorf("relay: proxy protocol version %d", b.ProxyProtocol)
	}
	r.ProxyProtocol = b.ProxyProtocol
	return r, nil
}

// CIDRRules parses allow and deny prefixes ("203.0.113.0/24") into Rules
// without a PROXY header: the one parser behind a binding's connection
// rules and an http tunnel's static rules (sdk.StaticRules).
func CIDRRules(allow, deny []string) (Rules, error) {
	var r Rules
	for _, c := range allow {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return Rules{}, fmt.Errorf("relay: cidr allow: %w", err)
		}
		r.Allow = append(r.Allow, p.Masked())
	}
	for _, c := range deny {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return Rules{}, fmt.Errorf("relay: cidr deny: %w", err)
		}
		r.Deny = append(r.Deny, p.Masked())
	}
	return r, nil
}

// Admit reports whether a visitor from addr may connect. A visitor's
// address is compared as IPv4 when it is IPv4-mapped and without its zone,
// and a rule written as an IPv4-mapped prefix of /96 or longer
// (::ffff:10.0.0.0/104) means its IPv4 form (10.0.0.0/8); shorter IPv6
// prefixes (::/0) hold IPv6 visitors only. Deny wins over allow.
func (r *Rules) Admit(addr netip.Addr) bool {
	ok, _ := r.Refusal(addr)
	return ok
}

// Refusal is Admit that also says which rule refused: the deny prefix
// that holds addr (its index in Deny), or -1 when addr is outside every
// allow prefix. The index is -1 too when addr is admitted.
func (r *Rules) Refusal(addr netip.Addr) (admit bool, deny int) {
	addr = addr.WithZone("").Unmap()
	for i, p := range r.Deny {
		if v4Prefix(p).Contains(addr) {
			return false, i
		}
	}
	if len(r.Allow) == 0 {
		return true, -1
	}
	for _, p := range r.Allow {
		if v4Prefix(p).Contains(addr) {
			return true, -1
		}
	}
	return false, -1
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
