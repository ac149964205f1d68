package tunnel

import (
	"context"
	"io"
	"net/netip"
)

// Conn is the tunnel side of one visitor connection: an SSH
// forwarded-tcpip channel in production (ssh.Channel satisfies it), a
// *net.TCPConn in tests. Close must be safe to call concurrently with Read
// and Write and must make them return.
type Conn interface {
	io.ReadWriteCloser
	// CloseWrite half-closes the connection: the service reads EOF while
	// its replies can still be read.
	CloseWrite() error
}

// DialFunc opens a Conn for one visitor; visitor is the visitor's address
// (the originator in the SSH channel). It must honour ctx.
type DialFunc func(ctx context.Context, visitor netip.AddrPort) (Conn, error)
