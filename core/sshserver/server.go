// Package sshserver is the SSH side of the edge: it authenticates users by
// public key, accepts their `ssh -R` remote forwards, reads the endpoint type
// and flags from the session's command, hands each forward to the endpoint
// type that serves its public side, and opens `forwarded-tcpip` channels back
// to the user's ssh client for every visitor connection.
//
// Protocol facts this package is built around (see
// shared/reference/ssh-protocol-notes.md): OpenSSH sends its tcpip-forward
// requests before the session's exec, so forward replies are held until the
// command is known; global replies carry no id and must go out in request
// order; a port-0 forward's reply carries the allocated port; errors are
// written to the session's stderr and the session closed before the forward
// replies, so the user reads the message even with ExitOnForwardFailure.
package sshserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"time"

	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"

	"github.com/sshgress/sshgress/core/account"
	"github.com/sshgress/sshgress/core/command"
	"github.com/sshgress/sshgress/core/cryptopolicy"
	"github.com/sshgress/sshgress/core/metrics"
	"github.com/sshgress/sshgress/core/route"
	"github.com/sshgress/sshgress/core/tunnel"
)

// Config configures a Server. Durations and limits left zero take the
// defaults documented on each field.
type Config struct {
	// HostKey is the server's host key. Required.
	HostKey ssh.Signer
	// Accounts maps public keys to accounts. Required unless AllowAnonymous.
	Accounts *account.Directory
	// AllowAnonymous accepts any public key as the anonymous local account.
	// Only safe when the SSH listener is on loopback; the edge refuses to
	// start otherwise.
	AllowAnonymous bool
	// Commands is the command set offered (built from enabled plugins).
	Commands *command.Set
	// AuthPlugins are the enabled plugins that authenticate visitors
	// (their manifests say so); an endpoint may use only one of them.
	AuthPlugins []string
	// Types serves each endpoint type by command name ("http", ...).
	Types map[string]tunnel.EndpointType
	// Names is the edge's name registry (the one its endpoint types
	// claim in): the tunnels command lists the tunnels that hold names of
	// the caller's owner in it. With nil, it lists the owner's forwards of
	// this server's connections unchecked.
	Names route.Registry
	// Registrar, when set (ssh.registration: invite), lets a key no
	// account holds authenticate only far enough to run `register CODE`
	// (register.go). Nil: such keys are refused at authentication.
	Registrar Registrar
	// RegisterWait bounds an unregistered connection's life. Default
	// DefaultRegisterWait.
	RegisterWait time.Duration
	// LoginLink mints the one-time dashboard sign-in link `login` prints
	// for an account. Nil: `login` says this edge has no dashboard.
	LoginLink func(ctx context.Context, account string) (string, error)
	// KeyUsed, if set, is told of each login: the account and the key's
	// fingerprint. It must not block (the edge records last use).
	KeyUsed func(account, fingerprint string)
	// PublicHost is the host users type in ssh commands, for messages.
	PublicHost string
	// KeyExchanges, Ciphers and MACs are the SSH algorithms offered, in
	// order of preference. Default: cryptopolicy's defaults for each.
	KeyExchanges, Ciphers, MACs []string
	// HandshakeTimeout bounds the handshake and authentication. Default
	// DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// KeepaliveInterval is how often the server checks the client is alive.
	// Default DefaultKeepaliveInterval.
	KeepaliveInterval time.Duration
	// KeepaliveCount is how many intervals may pass without a reply before
	// the connection is closed. Default DefaultKeepaliveCount.
	KeepaliveCount int
	// CommandWait is how long forwards wait for a session channel before the
	// connection is treated as `ssh -N` (endpoints with no flags). Default
	// DefaultCommandWait.
	CommandWait time.Duration
	// ExecWait bounds the wait for the exec/shell request once a session
	// channel is open. Default DefaultExecWait.
	ExecWait time.Duration
	// IdleNoForward closes an authenticated connection that has no forwards
	// after this long. Default DefaultIdleNoForward.
	IdleNoForward time.Duration
	// MaxForwards caps forwards per connection. Default DefaultMaxForwards.
	MaxForwards int
	// DialTimeout bounds how long opening a forwarded-tcpip channel may take.
	// Default tunnel.DefaultDialTimeout.
	DialTimeout time.Duration
	// Limits bound connections, tunnels and channels.
	Limits Limits
	// Metrics counts connections, logins, tunnels, channels and limit
	// hits. Nil counts nothing.
	Metrics *metrics.Metrics
	// Logger receives operator logs. Default slog.Default().
	Logger *slog.Logger
}

// Defaults for Config's zero fields; core/config's defaults use them too.
const (
	DefaultHandshakeTimeout  = 30 * time.Second
	DefaultKeepaliveInterval = 15 * time.Second
	DefaultKeepaliveCount    = 3
	DefaultCommandWait       = 300 * time.Millisecond
	DefaultExecWait          = 10 * time.Second
	DefaultIdleNoForward     = 60 * time.Second
	DefaultMaxForwards       = 10
)

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defInt := func(n *int, v int) {
		if *n <= 0 {
			*n = v
		}
	}
	def(&c.HandshakeTimeout, DefaultHandshakeTimeout)
	def(&c.KeepaliveInterval, DefaultKeepaliveInterval)
	defInt(&c.KeepaliveCount, DefaultKeepaliveCount)
	def(&c.CommandWait, DefaultCommandWait)
	def(&c.ExecWait, DefaultExecWait)
	def(&c.IdleNoForward, DefaultIdleNoForward)
	def(&c.RegisterWait, DefaultRegisterWait)
	def(&c.DialTimeout, tunnel.DefaultDialTimeout)
	defInt(&c.MaxForwards, DefaultMaxForwards)
	if len(c.KeyExchanges) == 0 {
		c.KeyExchanges = cryptopolicy.KeyExchanges.Defaults()
	}
	if len(c.Ciphers) == 0 {
		c.Ciphers = cryptopolicy.Ciphers.Defaults()
	}
	if len(c.MACs) == 0 {
		c.MACs = cryptopolicy.MACs.Defaults()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.Limits.setDefaults()
	if c.PublicHost == "" {
		c.PublicHost = "the edge"
	}
}

// Server accepts SSH connections and turns their forwards into endpoints.
type Server struct {
	cfg    Config
	sshCfg *ssh.ServerConfig
	// sshCfgOldPuTTY is sshCfg for PuTTY before 0.78 (clientversion.go).
	sshCfgOldPuTTY *ssh.ServerConfig
	log            *slog.Logger
	metrics        *metrics.SSH // nil counts nothing

	gate     *gate
	channels *counter // forwarded channels open on the edge
	tunnels  accountTunnels

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	strangers map[*ssh.ServerConn]struct{} // unregistered connections
	shutdown  bool
	wg        sync.WaitGroup
}

// permission extension keys carried from authentication to the connection.
const (
	extAccount     = "sshgress-account"
	extFingerprint = "pubkey-fp"
)

// New validates cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if cfg.HostKey == nil {
		return nil, errors.New("sshserver: no host key")
	}
	if cfg.Commands == nil {
		return nil, errors.New("sshserver: no command set")
	}
	if (cfg.Accounts == nil || cfg.Accounts.Len() == 0) && !cfg.AllowAnonymous && cfg.Registrar == nil {
		return nil, errors.New("sshserver: no accounts configured and anonymous access not allowed")
	}
	s := &Server{
		cfg:       cfg,
		log:       cfg.Logger,
		metrics:   cfg.Metrics.SSH(),
		listeners: map[net.Listener]struct{}{},
		conns:     map[*conn]struct{}{},
		strangers: map[*ssh.ServerConn]struct{}{},
		gate:      newGate(cfg.Limits),
		channels:  &counter{max: int64(cfg.Limits.ChannelsTotal)},
	}
	sc := &ssh.ServerConfig{
		Config: ssh.Config{
			KeyExchanges: cfg.KeyExchanges,
			Ciphers:      cfg.Ciphers,
			MACs:         cfg.MACs,
		},
		PublicKeyCallback: s.checkKey,
		BannerCallback:    s.authBanner,
		// x/crypto's patched copy: a packet over 256 KiB (from OpenSSH,
		// almost always a long command) gets this sentence in a
		// disconnect message instead of a reset.
		PacketTooLargeMessage: s.packetTooLarge,
		MaxAuthTries:          6,
		ServerVersion:         "SSH-2.0-sshgress",
	}
	sc.AddHostKey(cfg.HostKey)
	s.sshCfg = sc
	s.sshCfgOldPuTTY = withChaCha20(sc)
	return s, nil
}

// packetTooLarge is what a client that sent a packet longer than an SSH
// packet may be (256 KiB, as in OpenSSH's sshd) reads before the edge
// closes the connection. OpenSSH prints it at LogLevel ERROR and above,
// and exits with status 255.
func (s *Server) packetTooLarge(length uint32) string {
	s.log.Info("ssh client sent a packet over 256 KiB; disconnecting it", "bytes", length)
	return fmt.Sprintf("sshgress: your ssh client sent a message of %d bytes, more than the 256 KiB an SSH message may carry; "+
		"if it was your command, this server accepts commands of at most %d bytes, so shorten it.", length, s.cfg.Commands.MaxExecBytes())
}

// account returns the account named in a connection's permissions.
func (s *Server) account(perms *ssh.Permissions) *account.Account {
	if perms == nil {
		return nil
	}
	name := perms.Extensions[extAccount]
	if s.cfg.Accounts != nil && s.cfg.Accounts.Len() > 0 {
		return s.cfg.Accounts.ByName(name)
	}
	if s.cfg.AllowAnonymous && name == account.Anonymous().Name {
		return account.Anonymous()
	}
	return nil
}

// Serve accepts connections on l until l fails or Shutdown is called.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		return errors.New("sshserver: server is shut down")
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()
	var delay time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			down := s.shutdown
			s.mu.Unlock()
			if down {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("sshserver: accept: %w", err)
		}
		delay = 0
		ip := addrOf(nc.RemoteAddr())
		if ok, why := s.gate.admit(ip); !ok {
			s.log.Debug("ssh connection refused before the handshake", "remote", nc.RemoteAddr().String(), "reason", why)
			s.metrics.Refused(refusedAs[why])
			s.metrics.LimitHit(refusedAs[why])
			nc.Close()
			continue
		}
		s.metrics.Accepted()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(nc, ip)
		}()
	}
}

// handle runs one TCP connection's handshake and starts the connection.
func (s *Server) handle(nc net.Conn, ip netip.Addr) {
	defer s.recoverConn(nc)
	// The connection counts as open until it ends: here, or on the
	// goroutine it is handed to.
	handedOff := false
	defer func() {
		if !handedOff {
			s.metrics.Closed()
		}
	}()
	nc.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	version, vc, err := exchangeVersion(nc, s.sshCfg.ServerVersion)
	var (
		sc    *ssh.ServerConn
		chans <-chan ssh.NewChannel
		reqs  <-chan *ssh.Request
	)
	if err == nil {
		cfg := s.sshCfg
		if legacyPuTTY(version) {
			cfg = s.sshCfgOldPuTTY
		}
		sc, chans, reqs, err = ssh.NewServerConn(vc, cfg)
	}
	if err == nil && sc.Permissions != nil && sc.Permissions.Extensions[extUnregistered] != "" {
		// Still a stranger: it keeps its unauthenticated slot.
		if s.trackStranger(sc, true) {
			s.handleUnregistered(nc, ip, sc, chans, reqs)
			s.trackStranger(sc, false)
		} else {
			s.gate.done(ip, false)
			sc.Close()
		}
		return
	}
	s.gate.done(ip, err != nil)
	if err != nil {
		s.log.Debug("ssh handshake failed", "remote", nc.RemoteAddr().String(), "err", err)
		s.metrics.Refused(metrics.RefusedHandshake)
		if authErr := (*ssh.ServerAuthError)(nil); errors.As(err, &authErr) {
			s.metrics.Auth(false)
		}
		nc.Close()
		return
	}
	nc.SetDeadline(time.Time{})
	acct := s.account(sc.Permissions)
	if acct == nil {
		s.metrics.Refused(metrics.RefusedAccount)
		sc.Close()
		return
	}
	c := newConn(s, sc, acct)
	if !s.track(c, true) {
		s.metrics.Refused(metrics.RefusedShutdown)
		sc.Close()
		return
	}
	s.metrics.Auth(true)
	c.log.Info("ssh connection", "key", sc.Permissions.Extensions[extFingerprint], "user", sc.User())
	if s.cfg.KeyUsed != nil && !acct.Anonymous {
		s.cfg.KeyUsed(acct.Name, c.key)
	}
	// The handshake's deep calls grew this goroutine's stack, which a
	// parked goroutine keeps: the connection lives on a fresh one, and
	// this one ends.
	handedOff = true
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.metrics.Closed()
		defer s.recoverConn(nc)
		defer s.track(c, false)
		c.serve(chans, reqs)
	}()
}

// recoverConn, deferred, ends a connection whose goroutine panicked instead
// of the edge.
func (s *Server) recoverConn(nc net.Conn) {
	if r := recover(); r != nil {
		s.log.Error("ssh connection panicked", "remote", nc.RemoteAddr().String(), "panic", r, "stack", string(debug.Stack()))
		nc.Close()
	}
}

func (s *Server) track(c *conn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.shutdown {
			return false
		}
		s.conns[c] = struct{}{}
	} else {
		delete(s.conns, c)
	}
	return true
}

// trackStranger adds or removes an unregistered connection; false once
// the server is shut down.
func (s *Server) trackStranger(sc *ssh.ServerConn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.shutdown {
			return false
		}
		s.strangers[sc] = struct{}{}
	} else {
		delete(s.strangers, sc)
	}
	return true
}

// Shutdown stops accepting, tells every session the edge is going away,
// closes the connections and waits for their goroutines, bounded by ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutdown = true
	for l := range s.listeners {
		l.Close()
	}
	for sc := range s.strangers {
		sc.Close()
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.goodbye("The edge is shutting down; your tunnels are closed. Reconnect in a moment.")
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("sshserver: shutdown: %w", ctx.Err())
	}
}
