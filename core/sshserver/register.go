package sshserver

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/sshgress/sshgress/core/usererr"
	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"
)

// Registrar adds a key no account holds to the account an invite code
// names (ssh.registration: invite). Register uses code once; a refusal a
// user should read is a usererr error and is counted as a wrong code.
type Registrar interface {
	Register(ctx context.Context, code string, key ssh.PublicKey) (account string, err error)
}

// DefaultRegisterWait bounds the life of an unregistered connection.
const DefaultRegisterWait = 30 * time.Second

// extUnregistered marks a connection whose key no account holds; its
// value is the key in wire format. Such a connection may only run
// `register CODE`.
const extUnregistered = "sshgress-unregistered"

// unregisteredPerms lets key authenticate as a stranger that may register.
func unregisteredPerms(key ssh.PublicKey, fp string) *ssh.Permissions {
	return &ssh.Permissions{Extensions: map[string]string{
		extUnregistered: string(key.Marshal()),
		extFingerprint:  fp,
	}}
}

// notRegistered is the one sentence a stranger's key gets for anything but
// `register CODE`.
func (s *Server) notRegistered(user string) string {
	return fmt.Sprintf("this key is not registered here: ask the operator for an invite, then run `ssh %s@%s register CODE`", user, s.cfg.PublicHost)
}

// serveUnregistered runs a connection authenticated by a key no account
// holds. It refuses every forward and channel but one session, whose
// command may be `register CODE`; anything else gets notRegistered. The
// connection holds its unauthenticated slot in the gate until it ends
// (done), and its deadline (RegisterWait) is set on nc. It reports whether
// a wrong code was given.
func (s *Server) serveUnregistered(nc net.Conn, sc *ssh.ServerConn, chans <-chan ssh.NewChannel, reqs <-chan *ssh.Request) (wrongCode bool) {
	defer sc.Close()
	nc.SetDeadline(time.Now().Add(s.cfg.RegisterWait))
	fp := sc.Permissions.Extensions[extFingerprint]
	log := s.log.With("remote", sc.RemoteAddr().String(), "key", fp, "user", sc.User())
	key, err := ssh.ParsePublicKey([]byte(sc.Permissions.Extensions[extUnregistered]))
	if err != nil {
		return false
	}
	log.Info("ssh connection with an unregistered key: it may only register")
	type execReq struct {
		cmd string
		ch  ssh.Channel
	}
	execs := make(chan execReq, 1)
	timer := time.NewTimer(s.cfg.RegisterWait)
	defer timer.Stop()
	var held []*ssh.Request // forward requests, refused after the session's answer
	refuseHeld := func() {
		for _, r := range held {
			r.Reply(false, nil)
		}
		held = nil
	}
	defer refuseHeld()
	sessions := 0
	sessionGone := make(chan struct{}) // closed once the client closed the session
	var cmdWait <-chan time.Time       // `ssh -N`: forwards with no session
	for {
		select {
		case r, ok := <-reqs:
			if !ok {
				return false
			}
			if (r.Type == "tcpip-forward" || r.Type == "streamlocal-forward@openssh.com") && len(held) < s.cfg.MaxForwards {
				// OpenSSH exits at a refused forward with
				// ExitOnForwardFailure before it prints the session's
				// words: answer after them.
				held = append(held, r)
				if sessions == 0 && cmdWait == nil {
					cmdWait = time.After(s.cfg.CommandWait)
				}
				continue
			}
			r.Reply(false, nil)
		case newCh, ok := <-chans:
			if !ok {
				return false
			}
			if newCh.ChannelType() != "session" || sessions > 0 {
				newCh.Reject(ssh.Prohibited, "sshgress: "+s.notRegistered(sc.User()))
				continue
			}
			sessions++
			ch, creqs, err := newCh.Accept()
			if err != nil {
				return false
			}
			go func() {
				defer close(sessionGone)
				sent := false
				for r := range creqs {
					switch r.Type {
					case "exec", "shell":
						var p execPayload
						if r.Type == "exec" && ssh.Unmarshal(r.Payload, &p) != nil {
							r.Reply(false, nil)
							continue
						}
						r.Reply(!sent, nil)
						if !sent {
							sent = true
							execs <- execReq{cmd: p.Command, ch: ch}
						}
					case "pty-req", "env", "window-change":
						r.Reply(true, nil)
					default:
						r.Reply(false, nil)
					}
				}
			}()
		case ex := <-execs:
			out, status, wrong := s.runUnregistered(log, sc.User(), key, fp, ex.cmd)
			s.finishUnregistered(ex.ch, out, status)
			// OpenSSH exits at a refused forward (ExitOnForwardFailure)
			// before printing what the session wrote: let it see the
			// session end first.
			select {
			case <-sessionGone:
			case <-time.After(2 * time.Second):
			}
			refuseHeld()
			// Let the client read the answer and close; the deadline on
			// nc bounds this wait.
			sc.Wait()
			return wrong
		case <-cmdWait:
			cmdWait = nil
			if sessions == 0 {
				log.Info("unregistered key refused a forward without a command")
				refuseHeld()
			}
		case <-timer.C:
			log.Info("unregistered ssh connection timed out")
			return false
		}
	}
}

// runUnregistered runs a stranger's command: `register CODE` or the one
// sentence. The code is never logged.
func (s *Server) runUnregistered(log interface {
	Info(string, ...any)
}, user string, key ssh.PublicKey, fp, cmd string) (out string, status uint32, wrongCode bool) {
	f := strings.Fields(cmd)
	if len(f) != 2 || f[0] != "register" {
		log.Info("unregistered key refused a command", "command", firstWord(cmd))
		return "Error: " + s.notRegistered(user) + "\n", 1, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	acct, err := s.cfg.Registrar.Register(ctx, f[1], key)
	if err != nil {
		log.Info("ssh registration refused", "err", err)
		msg := usererr.Message(err, "the edge could not register your key because of an internal error; try again, and tell the operator if it persists")
		return "Error: " + msg + "\n", 1, usererr.Is(err)
	}
	log.Info("ssh key registered", "account", acct)
	return fmt.Sprintf("Registered: your key %s is now a key of account %s on this edge.\n"+
		"Next, publish a local service: ssh -R 80:localhost:3000 %s@%s http\n", fp, acct, user, s.cfg.PublicHost), 0, false
}

// firstWord is the command's name, for logs (its arguments may be secret).
func firstWord(cmd string) string {
	if f := strings.Fields(cmd); len(f) > 0 {
		return f[0]
	}
	return ""
}

// finishUnregistered writes the answer on the session's stderr or stdout,
// with its exit status, bounded.
func (s *Server) finishUnregistered(ch ssh.Channel, out string, status uint32) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		w := io.Writer(ch)
		if status != 0 {
			w = ch.Stderr()
		}
		io.WriteString(w, out)
		ch.SendRequest("exit-status", false, ssh.Marshal(exitStatus{status}))
		ch.CloseWrite()
		ch.Close()
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		ch.Close()
	}
}

// handleUnregistered runs a stranger's connection and then releases its
// gate slot; a wrong code counts against its source.
func (s *Server) handleUnregistered(nc net.Conn, ip netip.Addr, sc *ssh.ServerConn, chans <-chan ssh.NewChannel, reqs <-chan *ssh.Request) {
	wrong := s.serveUnregistered(nc, sc, chans, reqs)
	s.gate.done(ip, false)
	if wrong {
		s.gate.wrongCode(ip)
	}
}
