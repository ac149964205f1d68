package sshserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"time"

	"github.com/sshgress/sshgress/core/command"
	"github.com/sshgress/sshgress/core/console"
	"github.com/sshgress/sshgress/core/metrics"
	"github.com/sshgress/sshgress/core/route"
	"github.com/sshgress/sshgress/core/tunnel"
	"github.com/sshgress/sshgress/core/usererr"
)

// decide parses the command and binds every held forward, or refuses them
// all with a message in the session.
func (c *conn) decide(cmdline string, s *session) {
	c.mu.Lock()
	c.sess = s
	if s != nil {
		c.con = console.New(s.ch, s.pty, 0)
	}
	con := c.con
	c.mu.Unlock()

	if out, status, ok := c.accountCommand(cmdline); ok {
		if s != nil {
			if status == 0 {
				s.finish(out, "", 0)
			} else {
				s.finish("", out, status)
			}
		}
		c.refuseAll(nil)
		return
	}
	cmds := c.srv.cfg.Commands
	inv, err := cmds.Parse(c.sc.User(), cmdline, "http")
	if err == nil && (inv.Help || inv.List) {
		if s != nil {
			out := cmds.Help(inv.Command)
			if inv.List {
				out = c.srv.tunnelList(c)
			}
			s.finish(out, "", 0)
		}
		c.refuseAll(nil)
		return
	}
	if err == nil && len(c.pending) == 0 {
		err = usererr.Errorf("no -R forward was requested, so there is nothing to publish. Run: ssh -R 80:localhost:3000 %s %s", c.srv.cfg.PublicHost, inv.Command)
	}
	if err == nil {
		for _, f := range c.pending {
			if f.err != nil {
				err = f.err
				break
			}
		}
	}
	var typ tunnel.EndpointType
	if err == nil {
		if typ = c.srv.cfg.Types[inv.Command]; typ == nil {
			err = usererr.Errorf("%s endpoints are not enabled on this server", inv.Command)
		}
	}
	if err != nil {
		c.refuseAll(err)
		return
	}
	c.inv = inv
	c.values = cmds.GroupByOwner(inv)
	if err := command.OneAuthMethod(c.srv.cfg.AuthPlugins, c.values); err != nil {
		c.refuseAll(err)
		return
	}
	var bound []*fwd
	for _, f := range c.pending {
		if err = c.bind(typ, f); err != nil {
			break
		}
		bound = append(bound, f)
	}
	if err != nil {
		for _, f := range bound {
			f.ep.Close()
		}
		c.refuseAll(err)
		return
	}
	c.state = stateLive
	c.mu.Lock()
	c.active = append(c.active, c.pending...)
	c.mu.Unlock()
	con.Lines(c.banner(c.pending)...)
	for _, f := range c.pending {
		c.announce(f)
		c.resolve(f, true)
	}
	c.pending = nil
}

// bind publishes one forward with the connection's command.
func (c *conn) bind(typ tunnel.EndpointType, f *fwd) error {
	var idb [8]byte
	rand.Read(idb[:])
	max := c.srv.cfg.Limits.TunnelsPerAccount
	if !c.srv.tunnels.add(c.acct.Name, 1, max) {
		c.srv.metrics.LimitHit(metrics.LimitTunnelsPerAccount)
		return usererr.Errorf("your account already has %d tunnels open, the most this server allows; close some first", max)
	}
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	stable := 0
	if c.sess == nil && route.AsksRandom(f.BindAddr) {
		c.unnamed++
		stable = c.unnamed
	}
	id := hex.EncodeToString(idb[:])
	// Reservations are read live: one added or removed while the
	// connection is open applies to this bind.
	reserved := c.acct
	if !c.acct.Anonymous {
		if live := c.srv.cfg.Accounts.ByName(c.acct.Name); live != nil {
			reserved = live
		}
	}
	// The tunnel's traffic counts into its type's metrics too; set
	// before Bind, so before its first visitor.
	meter := c.srv.cfg.Metrics.Type(c.inv.Command)
	// With metrics.per_tunnel, and while under its cap, the tunnel's own
	// series too (fed with its type's through one meter).
	own := c.srv.cfg.Metrics.Tunnel(id, c.acct.Name, meter)
	switch {
	case own != nil:
		f.stats.SetMeter(own)
	case meter != nil:
		f.stats.SetMeter(meter)
	}
	ep, err := typ.Bind(ctx, &tunnel.BindRequest{
		TunnelID: id,
		Owner: tunnel.Owner{
			Account:      c.acct.Name,
			Anonymous:    c.acct.Anonymous,
			Domains:      slices.Clone(reserved.Domains),
			TCPAddresses: slices.Clone(reserved.TCPAddresses),
			Key:          c.key,
			Stable:       stable,
		},
		Command:      c.inv.Command,
		PluginValues: c.values,
		CoreValues:   c.srv.cfg.Commands.CoreValues(c.inv),
		RemoteName:   f.BindAddr,
		RemotePort:   f.BindPort,
		Pool:         c.inv.Pooled(),
		Forward:      &f.Forward,
		Console:      c.con, // nil for ssh -N: a *console.Console that discards
		NoSession:    c.sess == nil,
	})
	if err != nil {
		c.srv.tunnels.add(c.acct.Name, -1, max)
		own.Release()
		return err
	}
	meter.Opened()
	own.Describe(c.inv.Command, ep.URL())
	f.ep = &countedEndpoint{Endpoint: ep, release: func() {
		c.srv.tunnels.add(c.acct.Name, -1, max)
		meter.Closed()
		own.Release()
	}}
	f.id = id
	f.started = time.Now()
	f.cmd = c.inv.Command
	f.SetPublicPort(ep.Port())
	c.log.Info("tunnel opened", "url", ep.URL(), "command", c.inv.Command, "flags", c.srv.cfg.Commands.Redacted(c.inv.Command, c.inv.Values))
	return nil
}

// bindLate handles a forward that arrives after the command was accepted
// (e.g. `ssh -O forward`): it gets the same command and flags.
func (c *conn) bindLate(f *fwd) {
	if f.err == nil {
		f.err = c.bind(c.srv.cfg.Types[c.inv.Command], f)
	}
	if f.err != nil {
		c.con.Line("Could not add forward: " + usererr.Message(f.err, "internal error"))
		c.resolve(f, false)
		return
	}
	c.mu.Lock()
	c.active = append(c.active, f)
	c.mu.Unlock()
	c.con.Lines(c.forwardLines(f)...)
	c.announce(f)
	c.resolve(f, true)
}

// refuseAll reports err in the session (stderr, exit status 1, session
// closed) and only then refuses the held forwards, so OpenSSH prints the
// message even with ExitOnForwardFailure=yes.
func (c *conn) refuseAll(err error) {
	c.state = stateFailed
	if err != nil {
		msg := usererr.Message(err, "the edge could not set up your tunnel because of an internal error; try again, and tell the operator if it persists (ref "+c.id+")")
		c.log.Info("tunnel refused", "err", err)
		if s := c.sess; s != nil {
			s.finish("", "Error: "+msg+"\n", 1)
		}
	}
	if c.sess != nil {
		// OpenSSH exits at a refused forward (ExitOnForwardFailure) before
		// printing what the session wrote: let it see the session end first.
		c.awaitSessionClosed(2 * time.Second)
	}
	for _, f := range c.pending {
		c.resolve(f, false)
	}
	c.pending = nil
}

func (c *conn) cancelForward(addr string, port uint32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, f := range c.active {
		if f.BindAddr == addr && (f.BindPort == port || f.channelPort.Load() == port) {
			f.ep.Close()
			c.active = append(c.active[:i], c.active[i+1:]...)
			c.log.Info("tunnel cancelled", "url", f.ep.URL())
			return true
		}
	}
	return false
}
