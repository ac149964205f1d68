package core

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"

	"github.com/sshgress/sshgress/core/connlimit"
)

// listen opens the listeners, so ports chosen by the system (":0") are
// known before the endpoint types are built. On error, the listeners
// already open stay in e for New's cleanup to close.
func (e *Edge) listen() error {
	var err error
	if e.sshLn, err = net.Listen("tcp", e.cfg.SSH.Addr); err != nil {
		return fmt.Errorf("core: ssh listener (ssh.addr): %w", err)
	}
	if e.httpLn, err = net.Listen("tcp", e.cfg.HTTP.Addr); err != nil {
		return fmt.Errorf("core: http listener (http.addr): %w", err)
	}
	if e.cfg.HTTPS.Addr != "" {
		if e.httpsLn, err = net.Listen("tcp", e.cfg.HTTPS.Addr); err != nil {
			return fmt.Errorf("core: https listener (https.addr): %w", err)
		}
	}
	// Visitors' connections are capped per address and overall on each
	// public port, before any byte is read.
	// A trusted load balancer's connections count against the total cap
	// only: each carries another visitor.
	lim := e.cfg.Limits
	trusted := trustedPrefixes(e.cfg)
	e.httpLn = connlimit.Wrap(e.httpLn, lim.VisitorConnsPerIP, lim.VisitorConnsTotal, e.log.With("part", "http")).SharedAddrs(trusted)
	if e.httpsLn != nil {
		e.httpsLn = connlimit.Wrap(e.httpsLn, lim.VisitorConnsPerIP, lim.VisitorConnsTotal, e.log.With("part", "https")).SharedAddrs(trusted)
	}
	// Behind a trusted load balancer the visitor's address comes from its
	// PROXY header (proxyproto.go).
	e.httpLn = proxyProtocol(e.httpLn, trusted, e.cfg.HTTP.ReadHeaderTimeout)
	if e.httpsLn != nil {
		e.httpsLn = proxyProtocol(e.httpsLn, trusted, e.cfg.HTTP.ReadHeaderTimeout)
	}
	return nil
}

func (e *Edge) closeListeners() {
	for _, ln := range []net.Listener{e.sshLn, e.httpLn, e.httpsLn, e.adminLn} {
		if ln != nil {
			ln.Close()
		}
	}
}

// ownPorts are the edge's listener ports, never handed to a TCP endpoint.
func (e *Edge) ownPorts() []int {
	var out []int
	for _, ln := range []net.Listener{e.sshLn, e.httpLn, e.httpsLn, e.adminLn} {
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
	adminAddr := "disabled"
	if e.adminSrv != nil {
		e.serve("admin", func() error { return e.adminSrv.Serve(e.adminLn) })
		adminAddr = e.adminLn.Addr().String()
	}
	e.health.started.Store(true)
	e.log.Info("sshgress edge started", "ssh", e.sshLn.Addr().String(), "http", e.httpLn.Addr().String(), "https", https, "admin", adminAddr, "domain", e.cfg.Domain)
	if e.adminSrv != nil {
		e.log.Info("management API: the operator token is in admin.token_file", "addr", adminAddr, "token_file", e.adminTokenFile)
	}
	return nil
}

func (e *Edge) serve(name string, f func() error) {
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		if err := f(); err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, http.ErrServerClosed) {
			e.log.Error("listener stopped", "listener", name, "err", err)
			e.health.stopped(name)
		}
	}()
}
