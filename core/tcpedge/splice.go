package tcpedge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	proxyproto "github.com/pires/go-proxyproto"
)

// Upstream is the tunnel side of one visitor connection: an SSH
// forwarded-tcpip channel (ssh.Channel satisfies it).
type Upstream interface {
	io.ReadWriteCloser
	// CloseWrite sends EOF upstream while the other direction stays open.
	CloseWrite() error
}

// DialFunc opens an upstream for one visitor; it must honour ctx.
type DialFunc func(ctx context.Context, visitor netip.AddrPort) (Upstream, error)

// bufSize is the copy buffer size of each direction.
const bufSize = 32 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

// Counts are the bytes a spliced connection carried.
type Counts struct {
	// In is visitor to upstream, Out upstream to visitor.
	In, Out int64
}

// Splice moves bytes both ways between a visitor connection and its
// upstream until both directions have ended, then closes both. An EOF in
// one direction is passed on as a half-close (CloseWrite) so the other
// direction keeps flowing; an error in either direction closes both at
// once. Each direction copies through a pooled 32 KiB buffer.
func Splice(visitor net.Conn, up Upstream) Counts {
	var c Counts
	var closeOnce sync.Once
	closeBoth := func() {
		closeOnce.Do(func() {
			visitor.Close()
			up.Close()
		})
	}
	var in atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		n, err := copyBuf(up, visitor)
		in.Store(n)
		if err != nil {
			closeBoth()
			return
		}
		if up.CloseWrite() != nil {
			closeBoth()
		}
	}()
	n, err := copyBuf(visitor, up)
	c.Out = n
	if err != nil {
		closeBoth()
	} else if cw, ok := visitor.(interface{ CloseWrite() error }); !ok || cw.CloseWrite() != nil {
		closeBoth()
	}
	<-done
	closeBoth()
	c.In = in.Load()
	return c
}

// copyBuf copies src to dst with a pooled buffer, never through
// ReaderFrom/WriterTo (which would allocate their own). A clean EOF from
// src returns a nil error.
func copyBuf(dst io.Writer, src io.Reader) (int64, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var total int64
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			w, werr := dst.Write(buf[:n])
			total += int64(w)
			if werr != nil {
				return total, werr
			}
			if w != n {
				return total, io.ErrShortWrite
			}
		}
		if rerr != nil {
			if errors.Is(rerr, io.EOF) {
				return total, nil
			}
			return total, rerr
		}
	}
}

// WriteProxyHeader writes a PROXY protocol header of the given version (1
// or 2) to w: the visitor's address as source, the public address the
// visitor connected to as destination.
func WriteProxyHeader(w io.Writer, version int, visitor, public netip.AddrPort) error {
	if version != 1 && version != 2 {
		return fmt.Errorf("tcpedge: proxy protocol version %d", version)
	}
	src := net.TCPAddrFromAddrPort(netip.AddrPortFrom(visitor.Addr().Unmap(), visitor.Port()))
	dst := net.TCPAddrFromAddrPort(netip.AddrPortFrom(public.Addr().Unmap(), public.Port()))
	if src.IP.To4() == nil && dst.IP.To4() != nil {
		// Both addresses of one header must share a family.
		dst = &net.TCPAddr{IP: dst.IP.To16(), Port: dst.Port}
	} else if src.IP.To4() != nil && dst.IP.To4() == nil {
		dst = &net.TCPAddr{IP: net.IPv4zero, Port: dst.Port}
	}
	h := proxyproto.HeaderProxyFromAddrs(byte(version), src, dst)
	if _, err := h.WriteTo(w); err != nil {
		return fmt.Errorf("tcpedge: write proxy header: %w", err)
	}
	return nil
}

// AddrPort returns a net.Addr as a netip.AddrPort (zero if it is not TCP).
func AddrPort(a net.Addr) netip.AddrPort {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}
