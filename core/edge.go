// Package core is the sshgress edge as a library: Edge wires the SSH
// server, the command set, the plugin host and the public listeners from a
// validated config. cmd/sshgress only turns flags and files into a Config.
package core

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/sshgress/sshgress/core/accesslog"
	"github.com/sshgress/sshgress/core/account"
	"github.com/sshgress/sshgress/core/admin/dashboard"
	"github.com/sshgress/sshgress/core/certs"
	"github.com/sshgress/sshgress/core/config"
	"github.com/sshgress/sshgress/core/events"
	"github.com/sshgress/sshgress/core/httpedge"
	"github.com/sshgress/sshgress/core/httpedge/forward"
	"github.com/sshgress/sshgress/core/inspect"
	"github.com/sshgress/sshgress/core/metrics"
	"github.com/sshgress/sshgress/core/pluginhost"
	"github.com/sshgress/sshgress/core/route"
	"github.com/sshgress/sshgress/core/sshserver"
	"github.com/sshgress/sshgress/core/tcpedge"
	"github.com/sshgress/sshgress/core/tlsedge"
	"github.com/sshgress/sshgress/core/tunnel"
	"github.com/sshgress/sshgress/sdk"
)

// Options are what the binary adds to the config.
type Options struct {
	// Logger receives operator logs. Default slog.Default().
	Logger *slog.Logger
	// BundledPlugin returns the command that runs a bundled plugin as a
	// child process (`sshgress plugin NAME`).
	BundledPlugin func(name string) *exec.Cmd
	// Bundled describes the bundled plugins, enabled or not, so a flag of a
	// disabled plugin gets an error that names it.
	Bundled []sdk.Manifest
	// LoginLink mints the one-time dashboard link `ssh … login` prints for
	// an account; nil when the edge has no dashboard.
	LoginLink func(ctx context.Context, account string) (string, error)
	// AccessStderr is where log.access "stderr" writes. Default os.Stderr.
	AccessStderr io.Writer
}

// Edge is a running sshgress edge.
type Edge struct {
	cfg     *config.Config
	log     *slog.Logger
	ssh     *sshserver.Server
	http    *httpedge.Edge
	tcp     *tcpedge.Edge
	tls     *tlsedge.Edge // nil when https.addr is ""
	certs   *certs.Manager
	plugins *pluginhost.Host
	store   *edgeStore // store.go
	// accounts is the live directory Reload replaces the config's
	// accounts in (reload.go).
	accounts *account.Directory
	reloadMu sync.Mutex
	applied  *config.Config // cfg with what the last Reload changed live

	sshLn, httpLn, httpsLn net.Listener
	// The management API (adminapi.go); nil when admin.addr is "".
	adminLn        net.Listener
	adminSrv       *http.Server
	adminTokenFile string
	adminCert      *certs.FileCert // admin.cert_file; nil without one
	// Metrics and health (observability.go).
	metrics *metrics.Metrics
	health  listenerHealth
	// access is the access log (accesslog.go); nil when it is off.
	access *accesslog.Log
	// Events and the operator's webhook (eventbus.go); webhook is nil
	// without events.webhook.url.
	events  *events.Bus
	webhook *events.Webhook
	// closeDashboard releases the dashboard's sign-in chain.
	closeDashboard func()
	// inspector keeps inspected tunnels' exchanges; nil when off
	// (core/inspector.go).
	inspector *inspect.Store
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// New prepares an edge from cfg: host key, accounts, plugins, command set.
// Nothing listens until Start. When New fails, it has undone what it set
// up: no listener stays open and no plugin process runs.
func New(ctx context.Context, cfg *config.Config, opts Options) (_ *Edge, err error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	e := &Edge{cfg: cfg, log: log}
	if cfg.Metrics.Enabled {
		// Off, e.metrics stays nil: every part takes a nil *Metrics as
		// "count nothing", so the hot paths hold no counters at all.
		e.metrics = metrics.New()
	}
	defer func() {
		if err != nil {
			e.undoSetup()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("core: data dir: %w", err)
	}
	hostKey, err := loadOrCreateHostKey(cfg.HostKeyPath(), cfg.SSH.HostKeyFile == "", log)
	if err != nil {
		return nil, err
	}
	// The secret behind the stable names of `ssh -N` forwards without a
	// name: the same account and key get the same URL after a restart.
	nameKey, err := route.LoadNameKey(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	accounts, err := account.NewDirectory(cfg.Domain, accountSpecs(cfg))
	if err != nil {
		return nil, fmt.Errorf("config: accounts: %w", err)
	}
	// The store's accounts join the config's, live (store.go).
	if err := e.openStore(accounts); err != nil {
		return nil, err
	}
	e.accounts = accounts
	anonymous := accounts.Len() == 0 && cfg.SSH.Registration != config.RegistrationInvite
	if accounts.Len() == 0 && !anonymous {
		log.Warn("no accounts yet: anonymous mode is off because ssh.registration is invite; keys join accounts with invite codes")
	}
	if anonymous {
		if !cfg.SSHOnLoopback() {
			return nil, fmt.Errorf("config: accounts: none configured, and ssh.addr %s is not a loopback address: refusing to let any key open tunnels from the network. Add accounts with their public keys (see docs/sshgress.example.yaml), or listen on 127.0.0.1", cfg.SSH.Addr)
		}
		log.Warn("no accounts configured: any SSH key may open tunnels (allowed because ssh.addr is on loopback only)")
	}

	if err := e.openAccessLog(opts.AccessStderr); err != nil {
		return nil, err
	}
	if err := e.setupEvents(); err != nil {
		return nil, err
	}
	if err := e.listen(); err != nil {
		return nil, err
	}
	if err := e.startPlugins(ctx, opts); err != nil {
		return nil, err
	}
	cmds, err := e.commandSet(opts)
	if err != nil {
		return nil, err
	}
	var acmeChallenge http.Handler
	if e.httpsLn != nil {
		if err := e.setupCerts(accounts); err != nil {
			return nil, err
		}
		if e.certs.ACMEEnabled() {
			acmeChallenge = e.certs.HTTPHandler(http.NotFoundHandler())
		}
	}
	// The management API and the dashboard read and change the same
	// store and tunnel table (adminapi.go, dashboard.go).
	systemHosts := e.systemHosts(opts.Bundled)
	if err := e.setupAdmin(systemHosts); err != nil {
		return nil, err
	}
	hostHandlers, dash, closeDash, err := e.newDashboard(ctx, cmds, dashboard.AdminBackend(e.adminStore(), tunnelTable{e}))
	if err != nil {
		return nil, err
	}
	e.closeDashboard = closeDash
	e.inspector, hostHandlers = e.newInspector(hostHandlers) // core/inspector.go
	loginLink := opts.LoginLink
	if loginLink == nil && dash != nil {
		loginLink = func(_ context.Context, account string) (string, error) { return dash.MintLoginLink(account) }
	}
	publicPort := cfg.HTTP.PublicPort
	if publicPort == 0 {
		publicPort = e.httpLn.Addr().(*net.TCPAddr).Port
	}
	// One name registry for http hosts, tls SNI names and tcp addresses:
	// conflicts between kinds are decided by the claim itself.
	names := route.NewMemory()
	e.http = httpedge.New(httpedge.Options{
		BaseDomain:    cfg.Domain,
		Accounts:      accounts,
		NameKey:       nameKey,
		PublicPort:    publicPort,
		HTTPSPort:     e.httpsPublicPort(),
		ACMEChallenge: acmeChallenge,
		SystemHosts:   systemHosts,
		HostHandlers:  hostHandlers,
		Names:         names,
		Plugins:       e.plugins,
		Upstream: forward.Options{
			MaxIdle:     cfg.HTTP.UpstreamIdle,
			IdleTimeout: cfg.HTTP.UpstreamIdleTimeout,
			DialTimeout: cfg.HTTP.DialTimeout,
		},
		ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout,
		MaxHeaderBytes:    cfg.HTTP.MaxHeaderBytes,
		IdleTimeout:       cfg.HTTP.IdleTimeout,
		BodyIdleTimeout:   cfg.HTTP.BodyIdleTimeout,
		Inspector:         e.inspector,
		Logger:            log.With("part", "http"),
		Access:            e.access,
	})
	if e.httpsLn != nil {
		e.tls = tlsedge.New(tlsedge.Options{
			BaseDomain: cfg.Domain,
			Accounts:   accounts,
			PublicPort: e.httpsPublicPort(),
			Certs:      e.certs,
			HTTP:       e.http,
			Names:      names,
			Logger:     log.With("part", "tls"),
			Access:     e.access,
		})
	}
	e.tcp = tcpedge.New(tcpedge.Options{
		ListenHost:   listenHost(cfg.HTTP.Addr),
		BaseDomain:   cfg.Domain,
		Accounts:     accounts,
		ExcludePorts: e.ownPorts(),
		Names:        names,
		Logger:       log.With("part", "tcp"),
		Access:       e.access,
	})
	types := map[string]tunnel.EndpointType{"http": e.http}
	for typ := range e.plugins.EndpointTypes() {
		types[typ] = e.plugins.EndpointType(typ, publisher{e})
	}
	e.ssh, err = sshserver.New(sshserver.Config{
		HostKey:           hostKey,
		Accounts:          accounts,
		AllowAnonymous:    anonymous,
		Commands:          cmds,
		AuthPlugins:       e.authPlugins(),
		Types:             types,
		Names:             names,
		PublicHost:        e.publicSSHHost(),
		Registrar:         e.sshRegistrar(),
		LoginLink:         loginLink,
		KeyUsed:           (&keyTouch{records: e.store.records, last: map[string]time.Time{}}).used,
		KeyExchanges:      cfg.SSH.KeyExchanges,
		Ciphers:           cfg.SSH.Ciphers,
		MACs:              cfg.SSH.MACs,
		HandshakeTimeout:  cfg.SSH.HandshakeTimeout,
		KeepaliveInterval: cfg.SSH.KeepaliveInterval,
		KeepaliveCount:    cfg.SSH.KeepaliveCount,
		CommandWait:       cfg.SSH.CommandWait,
		ExecWait:          cfg.SSH.ExecWait,
		IdleNoForward:     cfg.SSH.IdleNoForward,
		MaxForwards:       cfg.Limits.ForwardsPerConn,
		Limits: sshserver.Limits{
			UnauthPerSource:       cfg.Limits.UnauthPerSource,
			UnauthTotal:           cfg.Limits.UnauthTotal,
			FailuresBeforePenalty: cfg.Limits.FailuresBeforePenalty,
			PenaltyWindow:         cfg.Limits.PenaltyWindow,
			TunnelsPerAccount:     cfg.Limits.TunnelsPerAccount,
			ChannelsPerConn:       cfg.Limits.ChannelsPerConn,
			ChannelsTotal:         cfg.Limits.ChannelsTotal,
		},
		DialTimeout: cfg.HTTP.DialTimeout,
		Metrics:     e.metrics,
		Events:      e.events,
		Logger:      log.With("part", "ssh"),
	})
	if err != nil {
		return nil, err
	}
	e.revokeLive(accounts)
	return e, nil
}

// undoSetup releases what a failed New set up so far: the listeners and
// the plugin processes, and the store. Parts not yet set up are nil and
// skipped.
func (e *Edge) undoSetup() {
	e.closeListeners()
	if e.closeDashboard != nil {
		e.closeDashboard()
	}
	if err := e.closePlugins(); err != nil {
		e.log.Warn("stopping plugins after a failed start", "err", err)
	}
	e.closeStore()
	e.access.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	e.closeEvents(ctx)
}

// SSHAddr is the SSH listener's address (after Start).
func (e *Edge) SSHAddr() net.Addr { return e.sshLn.Addr() }

// HTTPAddr is the HTTP listener's address (after Start).
func (e *Edge) HTTPAddr() net.Addr { return e.httpLn.Addr() }

// HTTPSAddr is the shared TLS port's address; nil when https.addr is "".
func (e *Edge) HTTPSAddr() net.Addr {
	if e.httpsLn == nil {
		return nil
	}
	return e.httpsLn.Addr()
}

// LocalCARoot is the PEM file of the local CA's root certificate, which
// visitors trust for https names the edge issues itself; "" when the TLS
// port is disabled.
func (e *Edge) LocalCARoot() string {
	if e.certs == nil {
		return ""
	}
	return e.certs.LocalCA().RootPath()
}

// HTTP is the HTTP edge, for tests and metrics.
func (e *Edge) HTTP() *httpedge.Edge { return e.http }
