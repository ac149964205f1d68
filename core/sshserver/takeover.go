package sshserver

import "fmt"

// A newer connection of the same owner (the account; for the anonymous
// account, the same key) that binds a name this connection holds takes it
// over at once: the endpoint type moves the route and closes this side's
// endpoint, then calls Forward.TakenOver, which lands here. The user's
// session gets a line per name, and once the connection has no forward
// left it is told and closed: a frozen client whose reconnect took over
// everything holds nothing on the edge any more, and the session ends with
// exit status 0, so an autossh loop that lost its names to a newer copy of
// itself stops rather than taking them back.

// lostName is one forward whose public name a newer connection took, or
// that the operator ended (table.go): then reason is what the user is
// told, and the control loop closes the endpoint itself.
type lostName struct {
	f      *fwd
	name   string
	reason string
}

// lose queues f's loss for the control loop; it never blocks, since it
// runs on the newer connection's bind.
func (c *conn) lose(f *fwd, name string) { c.queueLoss(lostName{f: f, name: name}) }

func (c *conn) queueLoss(l lostName) {
	c.mu.Lock()
	c.lost = append(c.lost, l)
	c.mu.Unlock()
	select {
	case c.lostSig <- struct{}{}:
	default: // already signalled; the control loop takes the whole list
	}
}

// takenOver, on the control loop, drops the forwards other connections
// took over and reports whether the connection should end because none is
// left.
func (c *conn) takenOver() bool {
	c.mu.Lock()
	lost := c.lost
	c.lost = nil
	var dropped []lostName
	for _, l := range lost {
		for i, f := range c.active {
			if f == l.f {
				c.active = append(c.active[:i], c.active[i+1:]...)
				dropped = append(dropped, l)
				break
			}
		}
	}
	left := len(c.active)
	con := c.con
	c.mu.Unlock()
	by := c.newerConnection()
	ended := false
	for _, l := range dropped {
		if l.reason != "" {
			ended = true
			l.f.ep.Close()
			c.log.Info("tunnel ended through the management API or the dashboard", "url", l.f.ep.URL(), "reason", l.reason)
			con.Line(fmt.Sprintf("%s: %s.", l.name, l.reason))
			continue
		}
		// Its endpoint type closes the endpoint (perhaps still doing so,
		// stuck writing to this frozen client until farewell closes it):
		// only the tunnel slot is given back here.
		if ce, ok := l.f.ep.(*countedEndpoint); ok {
			ce.releaseSlot()
		}
		c.log.Info("tunnel taken over by a newer connection", "url", l.f.ep.URL())
		con.Line(fmt.Sprintf("%s was taken over by %s; this tunnel no longer receives traffic.", l.name, by))
	}
	if len(dropped) == 0 || left > 0 || len(c.pending) > 0 || c.state != stateLive {
		return false
	}
	if ended {
		c.log.Info("ssh connection closed: its last tunnel was ended")
		c.farewell("This connection has no tunnel left; closing it.", 1)
		return true
	}
	c.log.Info("ssh connection closed: all its tunnels were taken over")
	c.farewell(fmt.Sprintf("All tunnels of this connection were taken over by %s; closing this one.", by), 0)
	return true
}

// newerConnection says who took a name over, for the user.
func (c *conn) newerConnection() string {
	if c.acct.Anonymous {
		return "a newer connection with the same SSH key"
	}
	return "a newer connection of your account"
}

// farewell ends the session with msg on stderr and the exit status, then
// closes the connection; with no session it just closes. It waits at most
// a few seconds for a client that stopped reading.
func (c *conn) farewell(msg string, status uint32) {
	c.mu.Lock()
	s := c.sess
	c.mu.Unlock()
	if s != nil {
		s.finish("", msg+"\n", status)
	}
	c.sc.Close()
}
