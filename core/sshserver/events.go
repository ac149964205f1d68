package sshserver

import (
	"net/netip"
	"time"

	"github.com/sshgress/sshgress/core/events"
)

// What the SSH server publishes on Config.Events: tunnel.opened once a
// tunnel is live (its forward accepted), tunnel.closed exactly once per
// opened tunnel with why (countedEndpoint's release), and auth.failures
// when a source reaches the penalty box's threshold. Publishing never
// blocks (events.Bus), so the control loop may do it.

// ending records why the connection is about to end (revoked, shutdown)
// for its tunnels' tunnel.closed events; the first reason given wins, and
// a connection that ends without one ends by its client.
func (c *conn) ending(reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.endWhy == "" {
		c.endWhy = reason
	}
}

// endReason is why the connection's remaining tunnels close.
func (c *conn) endReason() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.endWhy == "" {
		return events.ReasonClientClosed
	}
	return c.endWhy
}

// clientAddr is the address the owner's client connected from, an
// IPv4-mapped IPv6 address shown as IPv4.
func (c *conn) clientAddr() string {
	client := c.sc.RemoteAddr().String()
	if ap, err := netip.ParseAddrPort(client); err == nil {
		client = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
	}
	return client
}

// tunnelEvent is f's event of type typ.
func (c *conn) tunnelEvent(typ string, f *fwd) events.Event {
	return events.Event{Type: typ, Account: c.acct.Name, TunnelID: f.id, TunnelType: f.cmd,
		URL: f.ep.URL(), ClientAddr: c.clientAddr(), Key: c.key}
}

// announce publishes tunnel.opened for f, a forward just accepted, and
// arms its tunnel.closed. A forward bound but then refused (another of
// the connection's failed) was never open: it announces nothing.
func (c *conn) announce(f *fwd) {
	if c.srv.cfg.Events == nil {
		return
	}
	ce, ok := f.ep.(*countedEndpoint)
	if !ok {
		return
	}
	opened := c.tunnelEvent(events.TunnelOpened, f)
	c.mu.Lock()
	ce.ended = func(reason string) {
		ev := opened
		ev.ID, ev.Time, ev.Type, ev.Reason = "", time.Time{}, events.TunnelClosed, reason
		c.srv.cfg.Events.Publish(ev)
	}
	c.mu.Unlock()
	c.srv.cfg.Events.Publish(opened)
}

// closeFwd closes f's endpoint, its tunnel.closed saying reason.
func closeFwd(f *fwd, reason string) {
	if ce, ok := f.ep.(*countedEndpoint); ok {
		ce.closeFor(reason)
		return
	}
	f.ep.Close()
}

// publishPenalty is the gate's hook: a source reached its threshold of
// failed logins (or wrong invite codes) and is refused for penalty.
func (s *Server) publishPenalty(ip netip.Addr, limit int, penalty time.Duration) {
	s.cfg.Events.Publish(events.Event{Type: events.AuthFailures, Source: ip.String(), Failures: limit,
		Window: s.cfg.Limits.PenaltyWindow.String(), Penalty: penalty.String()})
}
