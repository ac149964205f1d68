package sshserver

import (
	"fmt"
	"time"

	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"
)

// control is the connection's state machine.
//
// It also accepts channels, answers the session's requests once its
// command has arrived, and runs the keepalives, so an idle tunnel costs
// this goroutine only, plus x/crypto's own.
func (c *conn) control(reqs <-chan *ssh.Request, chans <-chan ssh.NewChannel) {
	defer c.cancel()
	idle := time.NewTimer(c.srv.cfg.IdleNoForward)
	defer idle.Stop()
	var cmdWait <-chan time.Time
	sessionOpen := false
	ka := newKeepalive(c.srv.cfg.KeepaliveInterval, c.srv.cfg.KeepaliveCount)
	defer ka.stop()
	events := c.events
	for {
		select {
		case nc, ok := <-chans:
			if !ok {
				chans = nil
				continue
			}
			if c.newChannel(nc) {
				sessionOpen = true
				cmdWait = nil
			}
		case <-ka.tick.C:
			if !ka.due(time.Now()) {
				c.log.Info("ssh client stopped answering keepalives", "silent", time.Since(ka.last).Round(time.Millisecond))
				return
			}
			if !ka.inflight {
				ka.inflight = true
				go func() {
					_, _, err := c.sc.SendRequest("keepalive@openssh.com", true, nil)
					ka.result <- err
				}()
			}
		case err := <-ka.result:
			ka.inflight = false
			if err == nil {
				ka.last = time.Now()
			}
		case r, ok := <-reqs:
			if !ok {
				return
			}
			c.global(r)
			if c.state == stateWaiting && !sessionOpen && cmdWait == nil && len(c.pending) > 0 {
				cmdWait = time.After(c.srv.cfg.CommandWait)
			}
		case ev := <-events:
			events = nil // one session per connection
			// Forwards sent before the exec are already queued in reqs
			// (the mux delivers in order): take them before deciding.
			c.drain(reqs)
			c.sessReqs = ev.sess.reqs
			c.deep("decide", func() { c.decide(ev.cmd, ev.sess) })
		case r, ok := <-c.sessReqs:
			if !ok {
				c.sessReqs = nil
				c.sess.closed()
				continue
			}
			c.sessionRequest(c.sess, r)
		case <-c.lostSig:
			if c.takenOver() {
				return
			}
		case <-cmdWait:
			cmdWait = nil
			if c.state == stateWaiting && !sessionOpen {
				c.deep("decide", func() { c.decide("", nil) }) // ssh -N: defaults
			}
		case <-idle.C:
			c.mu.Lock()
			n := len(c.active)
			c.mu.Unlock()
			if n == 0 && len(c.pending) == 0 {
				c.goodbye(fmt.Sprintf("No tunnel was opened within %s; closing. Add a forward, e.g. ssh -R 80:localhost:3000 %s http", c.srv.cfg.IdleNoForward, c.srv.cfg.PublicHost))
				return
			}
			idle.Reset(c.srv.cfg.IdleNoForward)
		case <-c.ctx.Done():
			return
		}
	}
}

func (c *conn) drain(reqs <-chan *ssh.Request) {
	for {
		select {
		case r, ok := <-reqs:
			if !ok {
				return
			}
			c.global(r)
		default:
			return
		}
	}
}
