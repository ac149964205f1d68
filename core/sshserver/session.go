package sshserver

import (
	"io"
	"sync"
	"time"

	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"
)

// newChannel accepts the one session channel a connection may have and
// rejects every other channel type: the edge never dials on a client's
// behalf (no direct-tcpip), and has no use for x11 or agent channels. It
// reports whether a session was opened.
func (c *conn) newChannel(nc ssh.NewChannel) bool {
	switch nc.ChannelType() {
	case "session":
		c.sessions++
		if c.sessions > 1 {
			nc.Reject(ssh.Prohibited, "sshgress: one session per connection")
			return false
		}
		ch, reqs, err := nc.Accept()
		if err != nil {
			return false
		}
		s := &session{conn: c, ch: ch, reqs: reqs}
		c.spawn(nil, "session", s.serve)
		return true
	case "direct-tcpip", "direct-streamlocal@openssh.com":
		nc.Reject(ssh.Prohibited, "sshgress: this edge does not open connections for clients (-L and -D are not supported); use -R to publish a local service")
	default:
		nc.Reject(ssh.UnknownChannelType, "sshgress: channel type not supported: "+nc.ChannelType())
	}
	return false
}

// session is the user's terminal: it carries the command in, and the
// banner, request lines and errors out.
type session struct {
	conn *conn
	ch   ssh.Channel
	// reqs are read by the session goroutine until the command arrives,
	// then by the control loop.
	reqs <-chan *ssh.Request
	pty  bool // set before the command arrives, read-only after

	once sync.Once
}

type execPayload struct{ Command string }

type exitStatus struct{ Status uint32 }

// serve answers the session's requests until the first exec or shell
// request, which carries the command; a session that sends neither within
// ExecWait is refused. The command and the session's later requests go to
// the control loop, and serve ends: an idle session holds no goroutine.
func (s *session) serve() {
	c := s.conn
	timer := time.NewTimer(c.srv.cfg.ExecWait)
	defer timer.Stop()
	for {
		select {
		case r, ok := <-s.reqs:
			if !ok {
				s.closed()
				return
			}
			switch r.Type {
			case "pty-req":
				s.pty = true
				r.Reply(true, nil)
			case "env", "window-change", "signal", "break":
				r.Reply(true, nil)
			case "exec", "shell":
				var cmd string
				if r.Type == "exec" {
					var p execPayload
					if err := ssh.Unmarshal(r.Payload, &p); err != nil {
						r.Reply(false, nil)
						continue
					}
					cmd = p.Command
				}
				r.Reply(true, nil)
				select {
				case c.events <- sessionEvent{cmd: cmd, sess: s}:
				case <-c.ctx.Done():
					return
				}
				if s.pty {
					c.spawn(nil, "session input", s.readInput)
				}
				return
			case "subsystem":
				r.Reply(false, nil)
				s.finish("", subsystemRefused, 1)
			default:
				// x11-req, auth-agent-req@openssh.com, ...
				r.Reply(false, nil)
			}
		case <-timer.C:
			s.finish("", "Error: no command arrived; run e.g. ssh -R 80:localhost:3000 "+c.srv.cfg.PublicHost+" http\n", 1)
		case <-c.ctx.Done():
			return
		}
	}
}

const subsystemRefused = "Error: subsystems (such as sftp) are not available on this edge; it only publishes -R forwards.\n"

// sessionRequest answers, from the control loop, a session request that
// came after the command. Replies go through the reply queue, so a client
// that stops reading cannot stall the control loop.
func (c *conn) sessionRequest(s *session, r *ssh.Request) {
	switch r.Type {
	case "pty-req", "env", "window-change", "signal", "break":
		// A pty requested after the command changes nothing: the
		// console's line ends and the input watcher are already set.
		c.queue(&reply{req: r, ok: true})
	case "subsystem":
		c.queue(&reply{req: r, after: func() { s.finish("", subsystemRefused, 1) }})
	default:
		// A second exec or shell, x11-req, auth-agent-req@openssh.com, ...
		c.queue(&reply{req: r})
	}
}

// readInput watches the terminal: with a pty, Ctrl+C or Ctrl+D ends the
// session. Without one, input is ignored (stdin may be /dev/null).
func (s *session) readInput() {
	buf := make([]byte, 256)
	for {
		n, err := s.ch.Read(buf)
		if s.pty {
			for _, b := range buf[:n] {
				if b == 0x03 || b == 0x04 {
					s.finish("", "", 0)
					s.conn.sc.Close()
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// closed runs when the client closes the session channel: the session's
// tunnels end with it.
func (s *session) closed() {
	s.conn.sc.Close()
}

// awaitSessionClosed waits, at most d, until the client has closed the
// session, answering its requests meanwhile. The control loop calls it
// once the session is its own.
func (c *conn) awaitSessionClosed(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	for c.sessReqs != nil {
		select {
		case r, ok := <-c.sessReqs:
			if !ok {
				c.sessReqs = nil
				c.sess.closed()
				return
			}
			c.sessionRequest(c.sess, r)
		case <-t.C:
			return
		}
	}
}

// finish writes stdout and stderr text, sends the exit status and closes
// the channel, once. Writes are bounded so a client that stops reading
// cannot hold the caller.
func (s *session) finish(stdout, stderr string, status uint32) {
	s.once.Do(func() {
		// The console writes to the same channel; it must be done before
		// the channel is half-closed.
		s.conn.mu.Lock()
		con := s.conn.con
		s.conn.mu.Unlock()
		con.Close(time.Second)
		done := make(chan struct{})
		go func() {
			defer close(done)
			if stdout != "" {
				io.WriteString(s.ch, crlf(stdout, s.pty))
			}
			if stderr != "" {
				io.WriteString(s.ch.Stderr(), crlf(stderr, s.pty))
			}
			s.ch.SendRequest("exit-status", false, ssh.Marshal(exitStatus{status}))
			s.ch.CloseWrite()
			s.ch.Close()
		}()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			s.ch.Close()
		}
	})
}

// crlf converts line ends for a terminal in raw mode.
func crlf(s string, pty bool) string {
	if !pty {
		return s
	}
	out := make([]byte, 0, len(s)+8)
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' && (i == 0 || s[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, s[i])
	}
	return string(out)
}
