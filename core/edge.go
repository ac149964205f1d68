// Package core is the sshgress edge as a library: Edge wires the SSH
// server, the command set, the plugin host and the public listeners from a
// validated config. cmd/sshgress only turns flags and files into a Config.
package core

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"sync"

	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"

	"github.com/sshgress/sshgress/core/account"
	"github.com/sshgress/sshgress/core/certs"
	"github.com/sshgress/sshgress/core/command"
	"github.com/sshgress/sshgress/core/config"
	"github.com/sshgress/sshgress/core/connlimit"
	"github.com/sshgress/sshgress/core/httpedge"
	"github.com/sshgress/sshgress/core/pluginhost"
	"github.com/sshgress/sshgress/core/route"
	"github.com/sshgress/sshgress/core/sshserver"
	"github.com/sshgress/sshgress/core/tcpedge"
	"github.com/sshgress/sshgress/core/tlsedge"
	"github.com/sshgress/sshgress/core/tunnel"
	"github.com/sshgress/sshgress/core/usererr"
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

	sshLn, httpLn, httpsLn net.Listener
	wg                     sync.WaitGroup
	closeOnce              sync.Once
}

// New prepares an edge from cfg: host key, accounts, plugins, command set.
// Nothing listens until Start.
func New(ctx context.Context, cfg *config.Config, opts Options) (*Edge, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	e := &Edge{cfg: cfg, log: log}
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
	specs := make([]account.Spec, 0, len(cfg.Accounts))
	for _, a := range cfg.Accounts {
		specs = append(specs, account.Spec{Name: a.Name, Keys: a.Keys, KeysFile: a.KeysFile, Domains: a.Domains, TCPAddresses: a.TCPAddresses})
	}
	accounts, err := account.NewDirectory(cfg.Domain, specs)
	if err != nil {
		return nil, fmt.Errorf("config: accounts: %w", err)
	}
	// The store's accounts join the config's, live (store.go).
	if err := e.openStore(accounts); err != nil {
		return nil, err
	}
	started := false
	defer func() {
		if !started {
			e.closeStore()
		}
	}()
	anonymous := accounts.Len() == 0
	if anonymous {
		if !cfg.SSHOnLoopback() {
			return nil, fmt.Errorf("config: accounts: none configured, and ssh.addr %s is not a loopback address: refusing to let any key open tunnels from the network. Add accounts with their public keys (see docs/sshgress.example.yaml), or listen on 127.0.0.1", cfg.SSH.Addr)
		}
		log.Warn("no accounts configured: any SSH key may open tunnels (allowed because ssh.addr is on loopback only)")
	}

	if err := e.listen(); err != nil {
		return nil, err
	}
	if err := e.startPlugins(ctx, opts); err != nil {
		e.closeListeners()
		return nil, err
	}
	cmds, err := e.commandSet(opts)
	if err != nil {
		e.closeListeners()
		e.closePlugins()
		return nil, err
	}
	var acmeChallenge http.Handler
	if e.httpsLn != nil {
		if err := e.setupCerts(accounts); err != nil {
			e.closeListeners()
			e.closePlugins()
			return nil, err
		}
		if e.certs.ACMEEnabled() {
			acmeChallenge = e.certs.HTTPHandler(http.NotFoundHandler())
		}
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
		SystemHosts:   e.systemHosts(opts.Bundled),
		Names:         names,
		Plugins:       e.plugins,
		Upstream: httpedge.UpstreamOptions{
			MaxIdle:     cfg.HTTP.UpstreamIdle,
			IdleTimeout: cfg.HTTP.UpstreamIdleTimeout,
			DialTimeout: cfg.HTTP.DialTimeout,
		},
		ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout,
		MaxHeaderBytes:    cfg.HTTP.MaxHeaderBytes,
		IdleTimeout:       cfg.HTTP.IdleTimeout,
		BodyIdleTimeout:   cfg.HTTP.BodyIdleTimeout,
		Logger:            log.With("part", "http"),
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
		})
	}
	e.tcp = tcpedge.New(tcpedge.Options{
		ListenHost:   listenHost(cfg.HTTP.Addr),
		BaseDomain:   cfg.Domain,
		Accounts:     accounts,
		ExcludePorts: e.ownPorts(),
		Names:        names,
		Logger:       log.With("part", "tcp"),
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
		Logger:      log.With("part", "ssh"),
	})
	if err != nil {
		e.closeListeners()
		e.closePlugins()
		return nil, err
	}
	e.revokeLive(accounts)
	started = true
	return e, nil
}

// setupCerts prepares the certificate sources of the TLS port.
func (e *Edge) setupCerts(accounts *account.Directory) error {
	h := e.cfg.HTTPS
	opts := certs.Options{
		CertFile: h.CertFile,
		KeyFile:  h.KeyFile,
		CADir:    filepath.Join(e.cfg.DataDir, "ca"),
		Logger:   e.log.With("part", "certs"),
		// The hint shows the port visitors use.
		PublicPort: e.httpsPublicPort(),
	}
	if h.ACME.DirectoryURL != "" {
		opts.ACME = &certs.ACMEOptions{
			DirectoryURL:  h.ACME.DirectoryURL,
			Email:         h.ACME.Email,
			CARoot:        h.ACME.CARoot,
			OrdersPerHour: h.ACME.OrdersPerHour,
			CacheDir:      filepath.Join(e.cfg.DataDir, "acme"),
			// Only names an account reserves, and only while a tunnel
			// serves them, plus the hosts enabled plugins said they serve
			// (the OAuth auth host): an unknown or idle name never starts
			// an order.
			Allow: func(name string) bool {
				if e.http == nil || !e.http.Serves(name) {
					return false
				}
				_, plugin := e.plugins.ServedHosts()[name]
				return accounts.Owner(name) != nil || plugin
			},
		}
	}
	m, err := certs.New(opts)
	if err != nil {
		return err
	}
	e.certs = m
	return nil
}

// httpsPublicPort is the port shown in https:// and tls:// URLs; 0 when
// the TLS port is disabled.
func (e *Edge) httpsPublicPort() int {
	if e.httpsLn == nil {
		return 0
	}
	if p := e.cfg.HTTPS.PublicPort; p != 0 {
		return p
	}
	return e.httpsLn.Addr().(*net.TCPAddr).Port
}

func (e *Edge) closeListeners() {
	for _, ln := range []net.Listener{e.sshLn, e.httpLn, e.httpsLn} {
		if ln != nil {
			ln.Close()
		}
	}
}

func (e *Edge) closePlugins() error {
	if e.plugins == nil {
		return nil
	}
	return e.plugins.Close()
}

// startPlugins launches the enabled plugins.
func (e *Edge) startPlugins(ctx context.Context, opts Options) error {
	var specs []pluginhost.Spec
	names := make([]string, 0, len(e.cfg.Plugins))
	for name := range e.cfg.Plugins {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p := e.cfg.Plugins[name]
		if !p.IsEnabled() {
			continue
		}
		if p.Path == "" && !isBundled(opts.Bundled, name) {
			return fmt.Errorf("config: plugins.%s: no bundled plugin has this name (bundled: %s); give path and sha256 for a third-party plugin", name, bundledNames(opts.Bundled))
		}
		specs = append(specs, pluginhost.Spec{Name: name, Path: p.Path, SHA256: p.SHA256, Config: p.Config})
	}
	if len(specs) == 0 {
		return nil
	}
	h, err := pluginhost.Start(ctx, specs, pluginhost.Options{
		Bundled:    opts.BundledPlugin,
		Logger:     e.log.With("part", "plugins"),
		BaseDomain: e.cfg.Domain,
		DataDir:    e.cfg.DataDir,
	})
	if err != nil {
		return err
	}
	e.plugins = h
	return nil
}

// commandSet builds the commands this server offers: http, then the
// endpoint types the enabled plugins' manifests describe, each with the
// plugins' flags; what the disabled bundled plugins would provide is
// remembered so using it gets an error naming the plugin.
func (e *Edge) commandSet(opts Options) (*command.Set, error) {
	cmds := []command.Command{{
		Name:    "http",
		Summary: "Publish a local HTTP service at a public URL",
		Ports:   "80, 443 or 0",
		Example: "ssh -R 80:localhost:3000 v2@{host} http",
	}}
	for _, ep := range e.plugins.Endpoints() {
		cmds = append(cmds, command.EndpointCommand(ep.EndpointTypeSpec, ep.Plugin))
	}
	if e.plugins != nil {
		flags := e.plugins.Flags()
		for i := range cmds {
			for _, name := range slices.Sorted(maps.Keys(flags)) {
				for _, f := range flags[name] {
					if f.AppliesTo(cmds[i].Name) {
						cmds[i].Flags = append(cmds[i].Flags, command.Flag{FlagSpec: f, Owner: name})
					}
				}
			}
		}
	}
	var off []sdk.Manifest
	for _, m := range opts.Bundled {
		if p, ok := e.cfg.Plugins[m.Name]; !ok || !p.IsEnabled() {
			off = append(off, m)
		}
	}
	disabled, disabledFlags := command.Unavailable(off)
	return command.NewSet(command.Options{
		Host:          e.publicSSHHost(),
		Domain:        e.cfg.Domain,
		Disabled:      disabled,
		DisabledFlags: disabledFlags,
		MaxExecBytes:  e.cfg.Limits.MaxExecBytes,
	}, cmds...)
}

func isBundled(ms []sdk.Manifest, name string) bool {
	for _, m := range ms {
		if m.Name == name {
			return true
		}
	}
	return false
}

func bundledNames(ms []sdk.Manifest) string {
	var s string
	for i, m := range ms {
		if i > 0 {
			s += ", "
		}
		s += m.Name
	}
	if s == "" {
		return "none"
	}
	return s
}

// authPlugins names the enabled plugins that authenticate visitors.
func (e *Edge) authPlugins() []string {
	if e.plugins == nil {
		return nil
	}
	var names []string
	for _, m := range e.plugins.Manifests() {
		if m.Authenticates {
			names = append(names, m.Name)
		}
	}
	return names
}

// publicSSHHost is how users reach the SSH port, for help and messages:
// "tunnel.example.com" or "localhost -p 2222" (OpenSSH takes options after
// the destination too).
func (e *Edge) publicSSHHost() string {
	host := e.cfg.SSH.PublicHost
	if host == "" {
		host = e.cfg.Domain
	}
	if port := e.sshLn.Addr().(*net.TCPAddr).Port; port != 22 {
		return host + " -p " + strconv.Itoa(port)
	}
	return host
}

// listen opens the listeners, so ports chosen by the system (":0") are
// known before the endpoint types are built.
func (e *Edge) listen() error {
	var err error
	if e.sshLn, err = net.Listen("tcp", e.cfg.SSH.Addr); err != nil {
		return fmt.Errorf("core: ssh listener (ssh.addr): %w", err)
	}
	if e.httpLn, err = net.Listen("tcp", e.cfg.HTTP.Addr); err != nil {
		e.sshLn.Close()
		return fmt.Errorf("core: http listener (http.addr): %w", err)
	}
	if e.cfg.HTTPS.Addr != "" {
		if e.httpsLn, err = net.Listen("tcp", e.cfg.HTTPS.Addr); err != nil {
			e.sshLn.Close()
			e.httpLn.Close()
			return fmt.Errorf("core: https listener (https.addr): %w", err)
		}
	}
	// Visitors' connections are capped per address and overall on each
	// public port, before any byte is read.
	lim := e.cfg.Limits
	e.httpLn = connlimit.Wrap(e.httpLn, lim.VisitorConnsPerIP, lim.VisitorConnsTotal, e.log.With("part", "http"))
	if e.httpsLn != nil {
		e.httpsLn = connlimit.Wrap(e.httpsLn, lim.VisitorConnsPerIP, lim.VisitorConnsTotal, e.log.With("part", "https"))
	}
	return nil
}

// Start serves on the listeners opened by New, in the background.
func (e *Edge) Start() error {
	e.serve("ssh", func() error { return e.ssh.Serve(e.sshLn) })
	e.serve("http", func() error { return e.http.Serve(e.httpLn) })
	https := "disabled"
	if e.tls != nil {
		e.serve("https", func() error { return e.tls.Serve(e.httpsLn) })
		e.serve("https-http", func() error { return e.http.ServeTLS(e.tls.HTTPListener()) })
		https = e.httpsLn.Addr().String()
	}
	e.log.Info("sshgress edge started", "ssh", e.sshLn.Addr().String(), "http", e.httpLn.Addr().String(), "https", https, "domain", e.cfg.Domain)
	return nil
}

func (e *Edge) serve(name string, f func() error) {
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		if err := f(); err != nil && !errors.Is(err, net.ErrClosed) {
			e.log.Error("listener stopped", "listener", name, "err", err)
		}
	}()
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

// Shutdown stops accepting SSH users and visitors, lets in-flight requests
// finish within ctx, tells every session, then stops the plugins.
// Idempotent.
func (e *Edge) Shutdown(ctx context.Context) error {
	var errs []error
	e.closeOnce.Do(func() {
		if e.http != nil {
			errs = append(errs, e.http.Shutdown(ctx))
		}
		if e.httpLn != nil {
			e.httpLn.Close()
		}
		if e.tls != nil {
			e.tls.Close()
		} else if e.httpsLn != nil {
			e.httpsLn.Close()
		}
		if e.ssh != nil {
			errs = append(errs, e.ssh.Shutdown(ctx))
		}
		if e.tcp != nil {
			e.tcp.Close()
		}
		if e.sshLn != nil {
			e.sshLn.Close()
		}
		errs = append(errs, e.closePlugins())
		e.wg.Wait()
		e.closeStore()
	})
	return errors.Join(errs...)
}

// publisher publishes what endpoint plugins decide, by binding kind.
type publisher struct{ e *Edge }

// Publish binds a plugin's binding on the TCP edge or the shared TLS port.
func (p publisher) Publish(ctx context.Context, req *tunnel.BindRequest, b sdk.Binding) (tunnel.Endpoint, error) {
	switch b.Kind {
	case sdk.KindTCP:
		return p.e.tcp.Publish(ctx, req, b)
	case sdk.KindTLS:
		if p.e.tls == nil {
			return nil, usererr.New("tls endpoints need the edge's TLS port, which is disabled on this server (https.addr)")
		}
		return p.e.tls.Publish(ctx, req, b)
	}
	return nil, fmt.Errorf("core: publish: binding kind %q is not supported", b.Kind)
}

// ownPorts are the edge's listener ports, never handed to a TCP endpoint.
func (e *Edge) ownPorts() []int {
	var out []int
	for _, ln := range []net.Listener{e.sshLn, e.httpLn, e.httpsLn} {
		if ln != nil {
			out = append(out, ln.Addr().(*net.TCPAddr).Port)
		}
	}
	return out
}

// listenHost is the host part of addr ("" for every interface).
func listenHost(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	return host
}

// loadOrCreateHostKey reads the ed25519 host key, generating it on first
// start with owner-only permissions.
func loadOrCreateHostKey(path string, create bool, log *slog.Logger) (ssh.Signer, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		signer, err := ssh.ParsePrivateKey(data)
		if err != nil {
			return nil, fmt.Errorf("core: host key %s: %w", path, err)
		}
		return signer, nil
	}
	if !errors.Is(err, os.ErrNotExist) || !create {
		return nil, fmt.Errorf("config: ssh.host_key_file: %w", err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("core: generate host key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "sshgress host key")
	if err != nil {
		return nil, fmt.Errorf("core: encode host key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("core: host key dir: %w", err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, fmt.Errorf("core: write host key: %w", err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, fmt.Errorf("core: host key: %w", err)
	}
	log.Info("generated a new SSH host key", "path", path, "fingerprint", ssh.FingerprintSHA256(signer.PublicKey()))
	return signer, nil
}
