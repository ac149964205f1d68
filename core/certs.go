package core

import (
	"net"
	"path/filepath"

	"github.com/sshgress/sshgress/core/account"
	"github.com/sshgress/sshgress/core/certs"
)

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
		Expiry:     e.metrics.CertExpiry,
		Order:      e.metrics.ACMEOrder,
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
