package sshserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"

	"github.com/sshgress/sshgress/core/account"
	"github.com/sshgress/sshgress/core/command"
	"github.com/sshgress/sshgress/core/console"
	"github.com/sshgress/sshgress/core/route"
	"github.com/sshgress/sshgress/core/tunnel"
	"github.com/sshgress/sshgress/core/usererr"
)

// conn is one authenticated SSH connection. Its control loop (serve) owns
// the forward state: global requests, the session's command and requests,
// and timers all arrive there in order, so no lock guards the decision.
//
// An idle tunnel costs one goroutine of ours (the control loop) besides
// x/crypto's three: replies are sent, and console lines written, by
// goroutines that run only while something is queued.
type conn struct {
	srv   *Server
	sc    *ssh.ServerConn
	acct  *account.Account
	key   string // SHA256 fingerprint of the key the client proved
	log   *slog.Logger
	id    string
	since time.Time // when the connection was authenticated

	ctx    context.Context
	cancel context.CancelFunc

	events chan sessionEvent // from the session goroutine, once
	wg     sync.WaitGroup    // goroutines serve waits for

	// Control-loop state.
	state   connState
	pending []*fwd
	inv     *command.Invocation
	values  map[string]map[string][]string
	nfwd    int // forwards requested so far
	// unnamed counts the forwards without a remote name of an `ssh -N`
	// connection: the nth gets stable slot n (tunnel.Owner.Stable).
	unnamed int
	// sessReqs are the session's requests once its command has arrived;
	// nil before, and once the client has closed the session.
	sessReqs <-chan *ssh.Request

	channels *counter // forwarded channels open on this connection
	sessions int      // session channels opened (one is allowed)

	// mu guards what other goroutines (Shutdown, the session, the reply
	// sender) touch.
	mu      sync.Mutex
	active  []*fwd
	sess    *session
	con     *console.Console
	replies []*reply      // waiting for the reply sender, in order (see queue)
	sending bool          // the reply sender runs
	room    chan struct{} // closed when the sender takes a reply, if the control loop waits
	lost    []lostName    // names newer connections took over, for the control loop
	// lostSig wakes the control loop when lost grows (capacity 1).
	lostSig chan struct{}
}

type connState int

const (
	stateWaiting connState = iota // forwards held until the command arrives
	stateLive                     // command accepted; forwards bound
	stateFailed                   // command refused; forwards refused
)

// fwd is a forward and the reply it is waiting for.
type fwd struct {
	Forward
	err  error         // refused before binding (bad payload, over the cap)
	done chan struct{} // closed once ok/ep are final
	ok   bool
	ep   tunnel.Endpoint
	id   string // tunnel ID of the bound endpoint (tunnel.BindRequest.TunnelID)
}

// reply is one request's answer, held in order.
type reply struct {
	req   *ssh.Request
	fwd   *fwd // nil: answer ok at once
	ok    bool
	after func() // run once the reply is sent, if not nil
}

// sessionEvent hands the session, with its command, to the control loop,
// which answers the session's requests from then on.
type sessionEvent struct {
	cmd  string
	sess *session
}

func newConn(s *Server, sc *ssh.ServerConn, acct *account.Account) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	var idb [6]byte
	rand.Read(idb[:])
	c := &conn{
		srv: s, sc: sc, acct: acct, id: hex.EncodeToString(idb[:]),
		ctx: ctx, cancel: cancel,
		channels: &counter{max: int64(s.cfg.Limits.ChannelsPerConn)},
		events:   make(chan sessionEvent, 1),
		lostSig:  make(chan struct{}, 1),
		key:      sc.Permissions.Extensions[extFingerprint],
		since:    time.Now(),
	}
	c.log = s.log.With("conn", c.id, "account", acct.Name, "remote", sc.RemoteAddr().String())
	return c
}

// serve runs the connection until it closes.
func (c *conn) serve(chans <-chan ssh.NewChannel, reqs <-chan *ssh.Request) {
	c.control(reqs, chans)
	c.teardown()
	c.wg.Wait()
	c.log.Info("ssh connection closed")
}

// spawn runs f in a goroutine that cannot take the edge down: a panic is
// logged and ends this connection only.
func (c *conn) spawn(wg *sync.WaitGroup, what string, f func()) {
	if wg != nil {
		wg.Add(1)
	}
	go func() {
		if wg != nil {
			defer wg.Done()
		}
		defer func() {
			if r := recover(); r != nil {
				c.log.Error("ssh connection goroutine panicked", "goroutine", what, "panic", r, "stack", string(debug.Stack()))
				c.sc.Close()
			}
		}()
		f()
	}()
}

// deep runs f, a call that goes deep, on a short-lived goroutine and waits
// for it. A parked goroutine keeps the stack its deepest call grew; the
// control loop parks for the whole life of an idle tunnel, so its stack
// should stay small.
func (c *conn) deep(what string, f func()) {
	done := make(chan struct{})
	c.spawn(nil, what, func() {
		defer close(done)
		f()
	})
	<-done
}

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
		f.Forward = Forward{BindAddr: p.Addr, BindPort: p.Port, conn: c.sc, dialTimeout: c.srv.cfg.DialTimeout, limit: c.acquireChannel}
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
	c.values = groupByOwner(cmds, inv)
	if err := oneAuthMethod(c.srv.cfg.AuthPlugins, c.values); err != nil {
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
	ep, err := typ.Bind(ctx, &tunnel.BindRequest{
		TunnelID: id,
		Owner: tunnel.Owner{
			Account:      c.acct.Name,
			Anonymous:    c.acct.Anonymous,
			Domains:      slices.Clone(c.acct.Domains),
			TCPAddresses: slices.Clone(c.acct.TCPAddresses),
			Key:          c.key,
			Stable:       stable,
		},
		Command:      c.inv.Command,
		PluginValues: c.values,
		RemoteName:   f.BindAddr,
		RemotePort:   f.BindPort,
		Forward:      &f.Forward,
		Console:      c.con, // nil for ssh -N: a *console.Console that discards
	})
	if err != nil {
		c.srv.tunnels.add(c.acct.Name, -1, max)
		return err
	}
	f.ep = &countedEndpoint{Endpoint: ep, release: func() { c.srv.tunnels.add(c.acct.Name, -1, max) }}
	f.id = id
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

func (c *conn) banner(fs []*fwd) []string {
	lines := []string{"sshgress (Ctrl+C to quit)"}
	if !c.acct.Anonymous {
		lines = append(lines, "Account     "+c.acct.Name)
	}
	for _, f := range fs {
		lines = append(lines, c.forwardLines(f)...)
	}
	return lines
}

func (c *conn) forwardLines(f *fwd) []string {
	lines := []string{"Forwarding  " + f.ep.URL() + " -> the local target of your " + forwardSpec(f)}
	prot := f.ep.Protection()
	if len(prot) == 0 {
		lines = append(lines, "Protected   no (anyone with the URL can reach it)")
	}
	for _, p := range prot {
		lines = append(lines, "Protected   "+p)
	}
	return lines
}

// groupByOwner splits the given flag values by the plugin that owns each
// flag. Core flags (owner "") are left out.
func groupByOwner(cmds *command.Set, inv *command.Invocation) map[string]map[string][]string {
	cmd, _ := cmds.Lookup(inv.Command)
	owners := map[string]string{}
	for _, fl := range cmd.Flags {
		owners[fl.Name] = fl.Owner
	}
	var out map[string]map[string][]string
	names := make([]string, 0, len(inv.Values))
	for n := range inv.Values {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		owner := owners[n]
		if owner == "" {
			continue
		}
		if out == nil {
			out = map[string]map[string][]string{}
		}
		if out[owner] == nil {
			out[owner] = map[string][]string{}
		}
		out[owner][n] = inv.Values[n]
	}
	return out
}

// teardown closes every endpoint at once (routes gone immediately) and the
// session's console.
func (c *conn) teardown() {
	c.cancel()
	c.mu.Lock()
	active := c.active
	c.active = nil
	con := c.con
	c.mu.Unlock()
	for _, f := range active {
		f.ep.Close()
		c.log.Info("tunnel closed", "url", f.ep.URL())
	}
	for _, f := range c.pending {
		if f.ep != nil {
			f.ep.Close()
		}
	}
	con.Close(time.Second)
	c.sc.Close()
}

// goodbye tells the user why the connection ends, then closes it.
func (c *conn) goodbye(msg string) { c.farewell(msg, 1) }

// keepalive tracks the client's answers to keepalive requests; the control
// loop owns it.
type keepalive struct {
	tick     *time.Ticker
	result   chan error
	last     time.Time
	inflight bool
	budget   time.Duration
}

func newKeepalive(interval time.Duration, count int) *keepalive {
	return &keepalive{
		tick:   time.NewTicker(interval),
		result: make(chan error, 1),
		last:   time.Now(),
		budget: time.Duration(count) * interval,
	}
}

// due reports whether the client is still within its silence budget.
func (k *keepalive) due(now time.Time) bool { return now.Sub(k.last) <= k.budget }

func (k *keepalive) stop() { k.tick.Stop() }

// oneAuthMethod keeps ngrok's rule: one auth method per endpoint. auth
// names the plugins whose manifests say they authenticate visitors.
func oneAuthMethod(auth []string, values map[string]map[string][]string) error {
	var flags []string
	for _, p := range auth {
		if len(values[p]) == 0 {
			continue
		}
		names := make([]string, 0, len(values[p]))
		for f := range values[p] {
			names = append(names, "--"+f)
		}
		sort.Strings(names)
		flags = append(flags, names[0])
	}
	if len(flags) > 1 {
		return usererr.Errorf("%s cannot be combined: an endpoint takes one auth method. Pick one", strings.Join(flags, " and "))
	}
	return nil
}

// acquireChannel takes a channel slot on this connection and on the edge.
func (c *conn) acquireChannel() (release func(), ok bool) {
	if !c.channels.acquire() {
		return nil, false
	}
	if !c.srv.channels.acquire() {
		c.channels.release()
		return nil, false
	}
	return func() { c.channels.release(); c.srv.channels.release() }, true
}

// countedEndpoint gives back its account's tunnel slot when closed.
type countedEndpoint struct {
	tunnel.Endpoint
	once    sync.Once
	release func()
}

func (e *countedEndpoint) Close() {
	e.Endpoint.Close()
	e.releaseSlot()
}

// releaseSlot gives the tunnel slot back without closing the endpoint: after
// a takeover its endpoint type closes it.
func (e *countedEndpoint) releaseSlot() { e.once.Do(e.release) }
