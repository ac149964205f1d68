package core

import (
	"net"
	"net/netip"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/sshgress/sshgress/core/config"
)

// proxyProtocol wraps a public listener (http, https) to read PROXY
// protocol headers (v1 and v2) from the load balancers in
// proxy_protocol.trusted. A connection from a trusted address must start
// with one (REQUIRE): its source address is then the connection's
// RemoteAddr, so X-Forwarded-For, request lines, the access log and CIDR
// rules all see the visitor. A connection from any other address that
// starts with one is closed (REJECT), so a visitor cannot claim another
// address. The header is read on the connection's first read, in its own
// goroutine, bounded by timeout (never in the accept loop).
//
// It returns ln itself when nothing is trusted.
func proxyProtocol(ln net.Listener, trusted []netip.Prefix, timeout time.Duration) net.Listener {
	if len(trusted) == 0 {
		return ln
	}
	return proxiedListener{&proxyproto.Listener{
		Listener:          ln,
		ReadHeaderTimeout: timeout,
		ConnPolicy: func(o proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) {
			if isTrusted(o.Upstream, trusted) {
				return proxyproto.REQUIRE, nil
			}
			return proxyproto.REJECT, nil
		},
	}}
}

// trustedPrefixes parses proxy_protocol.trusted (already validated).
func trustedPrefixes(cfg *config.Config) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range cfg.ProxyProtocol.Trusted {
		if p, err := config.ParseTrusted(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

func isTrusted(a net.Addr, trusted []netip.Prefix) bool {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return false
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		return false
	}
	ip = ip.Unmap()
	for _, p := range trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// proxiedListener returns connections that keep half-close (CloseWrite),
// which TLS passthrough passes on to the tunnel.
type proxiedListener struct{ *proxyproto.Listener }

func (l proxiedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if pc, ok := c.(*proxyproto.Conn); ok {
		return proxiedConn{pc}, nil
	}
	return c, nil
}

type proxiedConn struct{ *proxyproto.Conn }

// CloseWrite half-closes the underlying connection when it can.
func (c proxiedConn) CloseWrite() error {
	if cw, ok := c.Raw().(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}

// Unwrap returns the underlying connection.
func (c proxiedConn) Unwrap() net.Conn { return c.Raw() }
