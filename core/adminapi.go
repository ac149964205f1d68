package core

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/sshgress/sshgress/core/admin"
	"github.com/sshgress/sshgress/core/certs"
	"github.com/sshgress/sshgress/core/usererr"
)

// tunnelTable is the management API's and the dashboard's admin.Tunnels
// over the SSH server's live tunnels. It reads e.ssh when called, so it
// can be handed out before the SSH server is built.
type tunnelTable struct{ e *Edge }

var _ admin.Tunnels = tunnelTable{}

func (t tunnelTable) Tunnels(context.Context) []admin.Tunnel {
	if t.e.ssh == nil {
		return nil
	}
	live := t.e.ssh.Tunnels()
	out := make([]admin.Tunnel, 0, len(live))
	for _, x := range live {
		out = append(out, admin.Tunnel{ID: x.ID, Account: x.Account, Type: x.Type, URL: x.URL,
			ClientAddr: x.ClientAddr, Started: x.Started.UTC(),
			Requests: x.Requests, BytesIn: x.BytesIn, BytesOut: x.BytesOut})
	}
	return out
}

func (t tunnelTable) EndTunnel(_ context.Context, id, reason string) error {
	if t.e.ssh == nil || !t.e.ssh.EndTunnel(id, reason) {
		return usererr.Wrap(admin.ErrNotFound, fmt.Sprintf("there is no live tunnel %q", id))
	}
	return nil
}

// Timeouts of the management API's HTTP server: its clients are the
// operator's tools on loopback, so anything slow is stuck or hostile.
const (
	adminReadHeaderTimeout = 10 * time.Second
	adminReadTimeout       = 30 * time.Second
	adminWriteTimeout      = 30 * time.Second
	adminIdleTimeout       = 2 * time.Minute
	adminMaxHeaderBytes    = 32 << 10
)

// setupAdmin opens the management API's listener (admin.addr; "" turns it
// off) with the operator token from admin.token_file, created on first
// start. Start serves it. The token is never logged, only its file.
func (e *Edge) setupAdmin(systemHosts []string) error {
	cfg := e.cfg.Admin
	if cfg.Addr == "" {
		return nil
	}
	path := e.cfg.AdminTokenPath()
	token, err := admin.LoadOrCreateToken(path)
	if err != nil {
		return err
	}
	api, err := admin.New(admin.Config{
		Store:         e.adminStore(),
		Tunnels:       tunnelTable{e},
		OperatorToken: token,
		BaseDomain:    e.cfg.Domain,
		SystemHosts:   systemHosts,
		Logger:        e.log.With("part", "admin"),
	})
	if err != nil {
		return err
	}
	// The certificate sits behind GetCertificate so a SIGHUP can swap it
	// (reload.go) without re-listening.
	var getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	if cfg.CertFile != "" {
		f, err := certs.LoadFileCert("admin", cfg.CertFile, cfg.KeyFile, e.log.With("part", "admin"))
		if err != nil {
			return err
		}
		e.adminCert = f
		getCert = f.GetCertificate
	}
	ln, err := admin.Listen(cfg.Addr, getCert)
	if err != nil {
		return err
	}
	e.adminLn = ln
	// /metrics, /healthz and /readyz beside the API (observability.go).
	handler := api.WithProbes(admin.Probes{
		Metrics:          e.metrics.Handler(),
		Ready:            e.readiness,
		MetricsNeedToken: !admin.IsLoopback(cfg.Addr),
	})
	e.adminSrv = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: adminReadHeaderTimeout,
		ReadTimeout:       adminReadTimeout,
		WriteTimeout:      adminWriteTimeout,
		IdleTimeout:       adminIdleTimeout,
		MaxHeaderBytes:    adminMaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(e.log.With("part", "admin").Handler(), slog.LevelDebug),
	}
	e.adminTokenFile = path
	return nil
}

// adminStore is the store the management API and the dashboard share.
func (e *Edge) adminStore() *adminStore {
	return &adminStore{records: e.store.records, dir: e.accounts}
}

// AdminAddr is the management API's address; nil when admin.addr is "".
func (e *Edge) AdminAddr() net.Addr {
	if e.adminLn == nil {
		return nil
	}
	return e.adminLn.Addr()
}
