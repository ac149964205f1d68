package sshserver

import (
	"time"

	"github.com/sshgress/sshgress/core/usererr"
	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"
)

type forwardPayload struct {
	Addr string
	Port uint32
}

// parseForward reads a tcpip-forward payload, the nth of the connection.
// Its errors are for the user.
func parseForward(payload []byte, n, max int) (forwardPayload, error) {
	var p forwardPayload
	if err := ssh.Unmarshal(payload, &p); err != nil {
		return forwardPayload{}, usererr.New("the edge could not read a -R forward request; check the -R syntax: -R [name:]port:localhost:LOCALPORT")
	}
	switch {
	case p.Port > 65535:
		return p, usererr.Errorf("remote port %d is out of range (ports go up to 65535); use 80, 443 or 0 for http, 0 for tcp", p.Port)
	case n > max:
		return p, usererr.Errorf("too many -R forwards on one connection (the limit is %d); split them across several ssh commands", max)
	case len(p.Addr) > 1024:
		return p, usererr.New("the -R remote name is too long: a domain name has at most 253 characters")
	}
	return p, nil
}

// global handles one global request, queueing its reply in order.
func (c *conn) global(r *ssh.Request) {
	switch r.Type {
	case "tcpip-forward":
		f := &fwd{done: make(chan struct{})}
		c.nfwd++
		p, err := parseForward(r.Payload, c.nfwd, c.srv.cfg.MaxForwards)
		f.err = err
		f.Forward = Forward{BindAddr: p.Addr, BindPort: p.Port, conn: c.sc, dialTimeout: c.srv.cfg.DialTimeout, limit: c.acquireChannel, opened: c.srv.metrics}
		f.takenOver = func(name string) { c.lose(f, name) }
		f.channelPort.Store(p.Port)
		c.queue(&reply{req: r, fwd: f})
		switch c.state {
		case stateWaiting:
			c.pending = append(c.pending, f)
		case stateLive:
			c.deep("bind", func() { c.bindLate(f) })
		default:
			c.resolve(f, false)
		}
	case "cancel-tcpip-forward":
		var p forwardPayload
		ok := ssh.Unmarshal(r.Payload, &p) == nil && c.cancelForward(p.Addr, p.Port)
		c.queue(&reply{req: r, ok: ok})
	default:
		// keepalive@openssh.com and anything unknown: a failure reply is
		// what OpenSSH expects for keepalives.
		c.queue(&reply{req: r})
	}
}

// maxQueuedReplies is how many replies may wait for the reply sender
// before the control loop waits for room.
const maxQueuedReplies = 64

// queue hands a reply to the reply sender, which answers requests
// strictly in the order they were queued: global requests in the order they
// came, and after the exec, the session's requests too (their order against
// global replies does not matter, and no global reply is held by then).
// The control loop never writes to the connection itself, so a client that
// stops reading cannot stall it for long: with the queue full, it waits for
// room at most the keepalive budget, then closes the connection.
func (c *conn) queue(rp *reply) {
	if !rp.req.WantReply && rp.fwd == nil && rp.after == nil {
		return
	}
	c.mu.Lock()
	if len(c.replies) >= maxQueuedReplies {
		room := make(chan struct{})
		c.room = room
		c.mu.Unlock()
		budget := time.Duration(c.srv.cfg.KeepaliveCount) * c.srv.cfg.KeepaliveInterval
		t := time.NewTimer(budget)
		defer t.Stop()
		select {
		case <-room:
		case <-c.ctx.Done():
			return
		case <-t.C:
			c.log.Info("ssh client stopped reading replies", "silent", budget)
			c.sc.Close()
			return
		}
		c.mu.Lock()
	}
	c.replies = append(c.replies, rp)
	if !c.sending {
		c.sending = true
		c.spawn(&c.wg, "reply sender", c.sendReplies)
	}
	c.mu.Unlock()
}

// sendReplies answers queued requests in order, waiting for each held
// forward's outcome, and ends when the queue is empty.
func (c *conn) sendReplies() {
	for c.ctx.Err() == nil {
		c.mu.Lock()
		if len(c.replies) == 0 {
			c.replies = nil // an idle connection keeps no queue
			c.sending = false
			c.mu.Unlock()
			return
		}
		rp := c.replies[0]
		c.replies[0] = nil
		c.replies = c.replies[1:]
		if c.room != nil {
			close(c.room)
			c.room = nil
		}
		c.mu.Unlock()
		ok, payload := rp.ok, []byte(nil)
		if f := rp.fwd; f != nil {
			select {
			case <-f.done:
			case <-c.ctx.Done():
				return
			}
			ok = f.ok
			if ok && f.BindPort == 0 {
				payload = ssh.Marshal(struct{ Port uint32 }{f.channelPort.Load()})
			}
		}
		if rp.req.WantReply {
			if err := rp.req.Reply(ok, payload); err != nil {
				return
			}
		}
		if rp.after != nil {
			rp.after()
		}
	}
}

func (c *conn) resolve(f *fwd, ok bool) {
	f.ok = ok
	close(f.done)
}
