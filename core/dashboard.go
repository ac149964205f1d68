package core

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/sshgress/sshgress/core/admin/dashboard"
	"github.com/sshgress/sshgress/core/command"
	"github.com/sshgress/sshgress/core/httpedge"
	"github.com/sshgress/sshgress/core/pluginhost"
	"github.com/sshgress/sshgress/sdk"
)

// dashboardHost is the dashboard's system host (dashboard.label under the
// base domain), reserved so no tunnel can claim it; "" when the dashboard
// is disabled.
func (e *Edge) dashboardHost() string {
	if !e.cfg.Dashboard.Enabled {
		return ""
	}
	return e.cfg.Dashboard.Label + "." + e.cfg.Domain
}

// dashboardSignIn opens the dashboard host's sign-in middleware from
// dashboard.sign_in: the flags are parsed by the command set as an http
// tunnel's are, and the chain is opened with the plugins exactly as for
// such a tunnel, so providers and allow rules are the plugin's own. The
// returned func runs one request through the chain: it writes the
// middleware's own answer (a redirect to the provider, a denial) and
// returns ok false, or returns the verified email of the identity the
// middleware continued with. A nil func means no sign_in is configured.
// close releases the chain.
func (e *Edge) dashboardSignIn(ctx context.Context, cmds *command.Set, url string) (signIn func(http.ResponseWriter, *http.Request) (string, bool), title string, close func(), err error) {
	flags := strings.TrimSpace(e.cfg.Dashboard.SignIn)
	if flags == "" {
		return nil, "", func() {}, nil
	}
	inv, err := cmds.Parse("v2", "http "+flags, "")
	if err != nil {
		return nil, "", nil, fmt.Errorf("config: dashboard.sign_in: %w", err)
	}
	owners := cmds.Owners(inv)
	if len(owners) == 0 || e.plugins == nil {
		return nil, "", nil, errors.New("config: dashboard.sign_in: no enabled plugin owns these flags")
	}
	values := cmds.GroupByOwner(inv)
	host := e.dashboardHost()
	chain, err := e.plugins.Open(ctx, pluginhost.Tunnel{ID: "dashboard", Command: "http", Host: host, URL: url, RemotePort: 443, Values: values},
		func(line string) { e.log.Warn("dashboard sign-in middleware", "event", line) })
	if err != nil {
		return nil, "", nil, fmt.Errorf("config: dashboard.sign_in: %w", err)
	}
	signIn = func(w http.ResponseWriter, r *http.Request) (string, bool) {
		visitor, _ := netip.ParseAddrPort(r.RemoteAddr)
		var facts *sdk.TLSFacts
		if r.TLS != nil {
			facts = &sdk.TLSFacts{ServerName: host, Version: r.TLS.Version}
		}
		d, err := chain.Check(r, visitor, facts)
		if err != nil {
			e.log.Warn("dashboard sign-in middleware failed; request refused", "err", err)
			httpedge.WritePage(w, r, httpedge.PageUnavailable, host)
			return "", false
		}
		if d.Respond {
			httpedge.WriteDecision(w, d)
			return "", false
		}
		if d.Identity == nil || d.Identity.Email == "" {
			// Fail closed: a middleware that lets the request on without
			// a verified email signs no one in.
			httpedge.WritePage(w, r, httpedge.PageUnavailable, host)
			return "", false
		}
		return d.Identity.Email, true
	}
	return signIn, strings.Join(chain.Protection(), ", "), chain.Close, nil
}

// newDashboard builds the dashboard over backend (the store and tunnel
// table behind the management API) and returns the handlers to give
// httpedge.Options.HostHandlers; nil when the dashboard is disabled. core.New
// calls it once the edge has a store (issue 13, item 1). close releases the
// sign-in chain.
func (e *Edge) newDashboard(ctx context.Context, cmds *command.Set, backend dashboard.Backend) (handlers map[string]http.Handler, srv *dashboard.Server, close func(), err error) {
	host := e.dashboardHost()
	if host == "" {
		return nil, nil, func() {}, nil
	}
	if e.httpsLn == nil {
		return nil, nil, nil, errors.New("config: dashboard.enabled: the dashboard needs the TLS port (https.addr)")
	}
	base := "https://" + host
	if p := e.httpsPublicPort(); p != 443 {
		base += ":" + strconv.Itoa(p)
	}
	signIn, title, closeSignIn, err := e.dashboardSignIn(ctx, cmds, base)
	if err != nil {
		return nil, nil, nil, err
	}
	srv, err = dashboard.New(dashboard.Options{
		Backend:     backend,
		BaseURL:     base,
		SSHHost:     e.publicSSHHost(),
		Operators:   e.cfg.Dashboard.Operators,
		Members:     e.cfg.Dashboard.MemberAccounts(),
		SignIn:      signIn,
		SignInTitle: title,
		SessionTTL:  e.cfg.Dashboard.SessionTTL,
		LinkTTL:     e.cfg.Dashboard.LinkTTL,
		Logger:      e.log.With("part", "dashboard"),
	})
	if err != nil {
		closeSignIn()
		return nil, nil, nil, err
	}
	return map[string]http.Handler{host: srv}, srv, closeSignIn, nil
}
