package pluginhost

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/sshgress/sshgress/sdk"
)

// CheckReserved asks a plugin about a request to a host that has no tunnel,
// e.g. the OAuth plugin's callback on its one auth host. If r's path falls
// under a path that an enabled HTTP middleware plugin declared in its
// manifest's ReservedPaths (the longest such path wins), that plugin's Check
// runs with TunnelID "" and handled is true; the plugin itself checks the
// host. Otherwise CheckReserved returns (Decision{}, false, nil) and the
// caller answers as for any unknown host.
//
// A path falls under a reserved path p when it equals p, or starts with p if
// p ends with "/", or starts with p + "/" otherwise. Paths are compared as
// sent (percent-encoding kept), which is also what the plugin sees.
//
// As in Chain.Check, a non-nil error means fail closed: the plugin is down,
// late (Options.CallTimeout) or answered nonsense, and the caller answers
// 503. A respond verdict comes back as the Decision. A continue verdict has
// no upstream to go to on a host without a tunnel, so it reports
// handled=false. Verdicts are never cached here. The caller strips visitor
// headers (X-Forwarded-*, X-Sshgress-*) before calling, as for tunnels.
func (h *Host) CheckReserved(r *http.Request, client netip.AddrPort, tlsFacts *sdk.TLSFacts) (d Decision, handled bool, err error) {
	path := "/"
	if r.URL != nil {
		path = r.URL.EscapedPath()
	}
	p := h.reservedOwner(path)
	if p == nil {
		return Decision{}, false, nil
	}
	if h.closed.Load() {
		return Decision{}, true, errors.New("pluginhost: check reserved path: host is closed")
	}
	head := requestHead("", r, client, tlsFacts)
	v, err := p.ask(r.Context(), head)
	if err != nil {
		return Decision{}, true, fmt.Errorf("pluginhost: plugin %q: reserved path %s: %w", p.spec.Name, path, err)
	}
	if v.Respond == nil {
		return Decision{}, false, nil
	}
	return Decision{
		Respond: true,
		Status:  v.Respond.Status,
		Header:  http.Header(v.Respond.Header).Clone(),
		Body:    slices.Clone(v.Respond.Body),
	}, true, nil
}

// reservedOwner returns the HTTP middleware plugin whose reserved path is
// the longest one path falls under, or nil.
func (h *Host) reservedOwner(path string) *proc {
	var owner *proc
	best := -1
	for _, name := range h.names {
		p := h.plugins[name]
		if !p.manifest.HTTPMiddleware {
			continue
		}
		for _, rp := range p.manifest.ReservedPaths {
			if len(rp) > best && underReserved(path, rp) {
				owner, best = p, len(rp)
			}
		}
	}
	return owner
}

// underReserved reports whether path falls under the reserved path rp.
func underReserved(path, rp string) bool {
	if path == rp {
		return true
	}
	if strings.HasSuffix(rp, "/") {
		return strings.HasPrefix(path, rp)
	}
	return strings.HasPrefix(path, rp+"/")
}
