package sshserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"

	"github.com/sshgress/sshgress/core/account"
	"github.com/sshgress/sshgress/core/command"
	"github.com/sshgress/sshgress/core/console"
	"github.com/sshgress/sshgress/core/metrics"
	"github.com/sshgress/sshgress/core/tunnel"
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
	// started is when the endpoint was bound; cmd is its command.
	started time.Time
	cmd     string
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

// acquireChannel takes a channel slot on this connection and on the edge.
func (c *conn) acquireChannel() (release func(), ok bool) {
	if !c.channels.acquire() {
		c.srv.metrics.LimitHit(metrics.LimitChannelsPerConn)
		return nil, false
	}
	if !c.srv.channels.acquire() {
		c.channels.release()
		c.srv.metrics.LimitHit(metrics.LimitChannelsTotal)
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
