package httpedge

import (
	"net/http"
	"net/netip"

	"github.com/sshgress/sshgress/sdk"
)

// serveNoTunnel answers a request for a host without a tunnel: a system
// host with a handler (the dashboard) gets it; a path a
// plugin reserved (the OAuth callback on the auth host) goes to that
// plugin; anything else gets the "no tunnel" page.
func (e *Edge) serveNoTunnel(w http.ResponseWriter, r *http.Request, host string, tlsFacts *sdk.TLSFacts) {
	if h := e.opts.HostHandlers[host]; h != nil && e.isSystemHost(host) {
		StripVisitorHeaders(r.Header)
		h.ServeHTTP(w, r)
		return
	}
	if e.opts.Plugins != nil {
		StripVisitorHeaders(r.Header)
		visitor, _ := netip.ParseAddrPort(r.RemoteAddr)
		d, handled, err := e.opts.Plugins.CheckReserved(r, visitor, tlsFacts)
		if err != nil {
			e.log.Warn("plugin failed on a reserved path; request refused", "host", host, "path", r.URL.Path, "err", err)
			WritePage(w, r, PageUnavailable, host)
			return
		}
		if handled {
			writeVerdict(w, d)
			return
		}
	}
	WritePage(w, r, PageNoTunnel, host)
}

// isSystemHost reports whether name is one the edge serves itself.
func (e *Edge) isSystemHost(name string) bool {
	for _, h := range e.opts.SystemHosts {
		if h == name {
			return true
		}
	}
	return false
}
