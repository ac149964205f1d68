package core

import (
	"context"
	"errors"
)

// Shutdown stops accepting SSH users and visitors, lets in-flight requests
// finish within ctx, tells every session, then stops the plugins.
// Idempotent.
func (e *Edge) Shutdown(ctx context.Context) error {
	var errs []error
	e.closeOnce.Do(func() {
		if e.adminSrv != nil {
			errs = append(errs, e.adminSrv.Shutdown(ctx))
			e.adminLn.Close() // if Start never served it
		}
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
		if e.closeDashboard != nil {
			e.closeDashboard()
		}
		errs = append(errs, e.closePlugins())
		e.wg.Wait()
		e.closeStore()
		e.access.Close() // after the listeners: no request is left to log
	})
	return errors.Join(errs...)
}
