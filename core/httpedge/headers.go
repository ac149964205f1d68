package httpedge

import (
	"net/http"
	"net/netip"

	"github.com/sshgress/sshgress/core/httpedge/forward"
	"github.com/sshgress/sshgress/sdk"
)

// StripVisitorHeaders removes from a visitor's request head what must not
// reach the upstream as the visitor sent it, before the edge and its
// middleware add headers of their own (call it before middleware runs and
// before SetForwarded):
//
//   - Hop-by-hop headers (RFC 9110 7.6.1) and every header the visitor names
//     in Connection. They are removed here, not as the request is written,
//     so that a visitor naming X-Forwarded-For or an identity header in
//     Connection cannot delete what the edge sets afterwards. Only what
//     the forwarding engine (forward.Upstream.Forward) needs of them
//     stays: Connection reduced to "Upgrade" with the Upgrade header when
//     the visitor asked for an upgrade, and Te.
//   - The edge-owned headers, which could claim an identity or a client
//     address because the upstream may trust them: every X-Forwarded-*
//     header, Forwarded, X-Real-Ip, the client-address headers of CDNs and
//     load balancers, the URL-override headers, and every header starting
//     with X-Sshgress- (the edge's identity headers). The list is
//     sdk.EdgeOwnedHeaders, matched by sdk.StrippedFromVisitors
//     (case-insensitively and with '_' taken as '-', so "X_Forwarded_For"
//     and "x-sshgress_user-email" go too).
//
// Request trailers are filtered by the forwarding engine as it writes the
// request.
func StripVisitorHeaders(h http.Header) {
	conn := h["Connection"]
	upgrade := len(conn) > 0 && forward.ConnectionHas(conn, "upgrade")
	for k := range h {
		switch {
		case sdk.StrippedFromVisitors(k):
			delete(h, k)
		case k == "Te" || (upgrade && k == "Upgrade"):
			// The forwarding engine decides what of these goes on.
		case forward.HopByHop(conn, k):
			delete(h, k)
		}
	}
	if upgrade {
		h["Connection"] = connectionUpgrade
	}
}

// connectionUpgrade is the Connection value left on a request that asks
// for an upgrade; shared, never modified.
var connectionUpgrade = []string{"Upgrade"}

// SetForwarded sets X-Forwarded-For to the visitor's IP alone (the chain a
// visitor sent was stripped, and the edge is the first proxy),
// X-Forwarded-Proto to proto ("http" or "https") and X-Forwarded-Host to
// host (the request's Host). A zero visitor leaves X-Forwarded-For unset;
// an empty proto or host leaves that header unset.
func SetForwarded(h http.Header, visitor netip.AddrPort, proto, host string) {
	// One backing array for the three value slices: one allocation.
	vals := make([]string, 3)
	if a := visitor.Addr(); a.IsValid() {
		vals[0] = a.Unmap().WithZone("").String()
		h["X-Forwarded-For"] = vals[0:1:1]
	}
	if proto != "" {
		vals[1] = proto
		h["X-Forwarded-Proto"] = vals[1:2:2]
	}
	if host != "" {
		vals[2] = host
		h["X-Forwarded-Host"] = vals[2:3:3]
	}
}
