package sshserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/sshgress/sshgress/core/metrics"
	"github.com/sshgress/sshgress/core/tunnel"
	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"
)

// Forward is one `tcpip-forward` the user's client asked for. It opens
// `forwarded-tcpip` channels back to the client, each carrying exactly the
// bind address and port the client sent (OpenSSH matches on them).
type Forward struct {
	// BindAddr is the address string the client sent ("localhost", "",
	// "app.example.org").
	BindAddr string
	// BindPort is the port the client sent (0 = allocate).
	BindPort uint32

	conn        ssh.Conn
	dialTimeout time.Duration
	// channelPort is the port carried in forwarded-tcpip channels: the
	// requested port, or for port 0 the port reported in the reply.
	channelPort atomic.Uint32
	// limit takes a channel slot (per connection and edge-wide).
	limit func() (release func(), ok bool)
	// takenOver tells the connection; nil in tests without one.
	takenOver func(name string)
	// stats are the tunnel's counters (tunnel.Dialer.Stats); its
	// channels count their bytes into them.
	stats tunnel.Stats
	// opened counts the channels opened (edge-wide); nil counts nothing.
	opened *metrics.SSH
}

// Stats are the forward's counters (tunnel.Dialer): bytes are counted
// here as its channels carry them, requests by the endpoint type.
func (f *Forward) Stats() *tunnel.Stats { return &f.stats }

var _ tunnel.Dialer = (*Forward)(nil)

// TakenOver tells the forward's connection that a newer connection of the
// same owner (route.Claimant.Owner) claimed name, this forward's public
// name (tunnel.Dialer): the endpoint type calls it once the route has
// moved, and closes the old endpoint itself (it may do so in the
// background: closing channels writes to a client that may have stopped
// reading, and the connection ending unblocks that). The connection tells
// its user and, once none of its forwards is left, ends. It does not
// block, so the newer connection's bind never waits for a stale client.
func (f *Forward) TakenOver(name string) {
	if f != nil && f.takenOver != nil {
		f.takenOver(name)
	}
}

type forwardedTCPPayload struct {
	Addr       string
	Port       uint32
	OriginAddr string
	OriginPort uint32
}

// SetPublicPort records the port a port-0 forward was given. An endpoint
// type calls it before its endpoint can receive visitors: OpenSSH matches
// every forwarded-tcpip channel on that port. For a forward with an
// explicit port it does nothing (channels carry the requested port).
func (f *Forward) SetPublicPort(port uint32) {
	if f.BindPort == 0 {
		f.channelPort.Store(port)
	}
}

// ClientAddr is the address the tunnel owner's SSH client connected from
// (zero if unknown). A forwarding loop's connections come back from it.
func (f *Forward) ClientAddr() netip.Addr {
	if f.conn == nil {
		return netip.Addr{}
	}
	if t, ok := f.conn.RemoteAddr().(*net.TCPAddr); ok {
		return t.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// ErrDialTimeout is returned when the client does not answer a channel open
// in time.
var ErrDialTimeout = errors.New("sshserver: the ssh client did not accept the connection in time")

// Dial opens a forwarded-tcpip channel for a visitor (tunnel.Dialer). The
// channel's stderr is drained and its requests discarded. Dial is bounded
// by ctx and the configured dial timeout; a channel accepted after the
// deadline is closed. At a channel cap it returns tunnel.ErrChannelLimit.
func (f *Forward) Dial(ctx context.Context, visitor netip.AddrPort) (tunnel.Conn, error) {
	payload := ssh.Marshal(&forwardedTCPPayload{
		Addr:       f.BindAddr,
		Port:       f.channelPort.Load(),
		OriginAddr: visitor.Addr().Unmap().String(),
		OriginPort: uint32(visitor.Port()),
	})
	release := func() {}
	if f.limit != nil {
		var ok bool
		if release, ok = f.limit(); !ok {
			return nil, tunnel.ErrChannelLimit
		}
	}
	type result struct {
		ch  ssh.Channel
		err error
	}
	res := make(chan result, 1)
	go func() {
		ch, reqs, err := f.conn.OpenChannel("forwarded-tcpip", payload)
		if err == nil {
			go ssh.DiscardRequests(reqs)
			go io.Copy(io.Discard, ch.Stderr())
		}
		res <- result{ch, err}
	}()
	timer := time.NewTimer(f.dialTimeout)
	defer timer.Stop()
	select {
	case r := <-res:
		if r.err != nil {
			release()
			return nil, fmt.Errorf("sshserver: open forwarded-tcpip: %w", r.err)
		}
		if f.opened != nil {
			f.opened.ChannelOpened()
		}
		return &limitedChannel{Channel: r.ch, release: release, stats: &f.stats}, nil
	case <-timer.C:
	case <-ctx.Done():
	}
	release()
	go func() {
		if r := <-res; r.ch != nil {
			r.ch.Close()
		}
	}()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return nil, ErrDialTimeout
}
