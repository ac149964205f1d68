package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/sshgress/sshgress/core/accesslog"
)

// validateAccessLog checks log.access: stderr, off or a file path.
func (c *Config) validateAccessLog(v *validator) {
	a := strings.TrimSpace(c.Log.Access)
	switch strings.ToLower(a) {
	case accesslog.Stderr, accesslog.Off:
		c.Log.Access = strings.ToLower(a)
	case "":
		v.add("log.access", errors.New("must not be empty: use stderr, off or a file path"))
	case "stdout", "-":
		v.add("log.access", fmt.Errorf("%q: use stderr, off or a file path", a))
	default:
		c.Log.Access = a
	}
}

// validateProxyProtocol checks proxy_protocol.trusted: each entry a CIDR
// or a single IP address.
func (c *Config) validateProxyProtocol(v *validator) {
	for i, s := range c.ProxyProtocol.Trusted {
		if _, err := ParseTrusted(s); err != nil {
			v.add(fmt.Sprintf("proxy_protocol.trusted[%d]", i), err)
		}
	}
}

// ParseTrusted parses one proxy_protocol.trusted entry: a CIDR
// ("10.0.0.0/8") or a single address ("10.0.0.7", taken as /32 or /128).
func ParseTrusted(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q: want a CIDR such as 10.0.0.0/8 or an IP address", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q: want a CIDR such as 10.0.0.0/8 or an IP address", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}
