package relay

import (
	"fmt"
	"io"
	"net"
	"net/netip"

	proxyproto "github.com/pires/go-proxyproto"
)

// WriteProxyHeader writes a PROXY protocol header of the given version (1
// or 2) to w: the visitor's address as source, the public address the
// visitor connected to as destination.
func WriteProxyHeader(w io.Writer, version int, visitor, public netip.AddrPort) error {
	if version != 1 && version != 2 {
		return fmt.Errorf("relay: proxy protocol version %d", version)
	}
	h := ProxyHeader(version, visitor, public)
	if _, err := h.WriteTo(w); err != nil {
		return fmt.Errorf("relay: write proxy header: %w", err)
	}
	return nil
}

// ProxyHeader is the PROXY header of the given version (1 or 2) for a
// visitor that reached public, both addresses brought to one family as
// the protocol requires; callers may add TLVs before writing it.
func ProxyHeader(version int, visitor, public netip.AddrPort) *proxyproto.Header {
	src := net.TCPAddrFromAddrPort(netip.AddrPortFrom(visitor.Addr().Unmap(), visitor.Port()))
	dst := net.TCPAddrFromAddrPort(netip.AddrPortFrom(public.Addr().Unmap(), public.Port()))
	if src.IP.To4() == nil && dst.IP.To4() != nil {
		// Both addresses of one header must share a family.
		dst = &net.TCPAddr{IP: dst.IP.To16(), Port: dst.Port}
	} else if src.IP.To4() != nil && dst.IP.To4() == nil {
		dst = &net.TCPAddr{IP: net.IPv4zero, Port: dst.Port}
	}
	return proxyproto.HeaderProxyFromAddrs(byte(version), src, dst)
}

// AddrPort returns a net.Addr as a netip.AddrPort (zero if it is not TCP).
func AddrPort(a net.Addr) netip.AddrPort {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}
