package httpedge

import (
	"net/http"
	"net/netip"
	"strings"

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
//     Forward needs of them stays: Connection reduced to "Upgrade" with
//     the Upgrade header when the visitor asked for an upgrade, and Te.
//   - The edge-owned headers, which could claim an identity or a client
//     address because the upstream may trust them: every X-Forwarded-*
//     header, Forwarded, X-Real-Ip, the client-address headers of CDNs and
//     load balancers, the URL-override headers, and every header starting
//     with X-Sshgress- (the edge's identity headers). The list is
//     sdk.EdgeOwnedHeaders, matched by sdk.StrippedFromVisitors
//     (case-insensitively and with '_' taken as '-', so "X_Forwarded_For"
//     and "x-sshgress_user-email" go too).
//
// Request trailers are filtered as the request is written
// (fwdForwardTrailer).
func StripVisitorHeaders(h http.Header) {
	conn := h["Connection"]
	upgrade := len(conn) > 0 && fwdConnectionNames(conn, "upgrade")
	for k := range h {
		switch {
		case sdk.StrippedFromVisitors(k):
			delete(h, k)
		case k == "Te" || (upgrade && k == "Upgrade"):
			// Forward decides what of these goes on.
		case fwdSkipHeader(conn, k):
			delete(h, k)
		}
	}
	if upgrade {
		h["Connection"] = fwdConnectionUpgrade
	}
}

// fwdConnectionUpgrade is the Connection value left on a request that asks
// for an upgrade; shared, never modified.
var fwdConnectionUpgrade = []string{"Upgrade"}

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

// fwdHasPrefixFold reports whether header name k starts with prefix
// (lowercase, with '-') ignoring ASCII case and taking '_' as '-'.
func fwdHasPrefixFold(k, prefix string) bool {
	if len(k) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := k[i]
		switch {
		case c == '_':
			c = '-'
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}

// fwdHopHeader reports whether k is a hop-by-hop header of RFC 9110 7.6.1
// (plus the obsolete Proxy-Connection and Keep-Alive, and the
// proxy-authentication headers meant for the edge, not the upstream).
func fwdHopHeader(k string) bool {
	switch len(k) {
	case 2:
		return strings.EqualFold(k, "Te")
	case 7:
		return strings.EqualFold(k, "Trailer") || strings.EqualFold(k, "Upgrade")
	case 10:
		return strings.EqualFold(k, "Connection") || strings.EqualFold(k, "Keep-Alive")
	case 16:
		return strings.EqualFold(k, "Proxy-Connection")
	case 17:
		return strings.EqualFold(k, "Transfer-Encoding")
	case 18:
		return strings.EqualFold(k, "Proxy-Authenticate")
	case 19:
		return strings.EqualFold(k, "Proxy-Authorization")
	}
	return false
}

// fwdConnectionNames reports whether the Connection header values conn name
// the header k (comma-separated tokens, case-insensitive).
func fwdConnectionNames(conn []string, k string) bool {
	for _, v := range conn {
		for v != "" {
			var tok string
			tok, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(strings.TrimSpace(tok), k) {
				return true
			}
		}
	}
	return false
}

// fwdSkipHeader reports whether the header k must not cross the edge:
// hop-by-hop, or named in the message's Connection header values conn.
func fwdSkipHeader(conn []string, k string) bool {
	return fwdHopHeader(k) || (len(conn) > 0 && fwdConnectionNames(conn, k))
}

// fwdUpgradeType returns the protocol a message asks to switch to: the
// Upgrade header when Connection names "upgrade", else "". A value with
// characters outside printable ASCII is ignored.
func fwdUpgradeType(h http.Header) string {
	conn := h["Connection"]
	if len(conn) == 0 || !fwdConnectionNames(conn, "upgrade") {
		return ""
	}
	up := h.Get("Upgrade")
	for i := 0; i < len(up); i++ {
		if up[i] < ' ' || up[i] > '~' {
			return ""
		}
	}
	return up
}

// fwdCopyResponseHeader adds the end-to-end headers of src to dst. The
// value slices are shared, not copied: src must not be modified afterwards.
func fwdCopyResponseHeader(dst, src http.Header) {
	conn := src["Connection"]
	for k, vv := range src {
		if fwdSkipHeader(conn, k) {
			continue
		}
		if old, ok := dst[k]; ok {
			dst[k] = append(old, vv...)
		} else {
			dst[k] = vv
		}
	}
}

// fwdForwardTrailer reports whether a visitor's request trailer named k
// may reach the upstream after a request whose forwarded head is head.
// Trailers get the same stripping as headers (sdk.StrippedFromVisitors,
// hop-by-hop),
// and more, because some servers merge trailers into the header map: a
// trailer that frames, routes or authenticates (RFC 9110 6.5.1: Host,
// Content-*, Authorization, Cookie, the framing headers the edge writes)
// is dropped, and so is one with the name of any header in head, so a
// trailer can never add a value to one the edge or a middleware set.
func fwdForwardTrailer(head http.Header, k string) bool {
	if sdk.StrippedFromVisitors(k) || fwdHopHeader(k) || fwdRequestFraming(k) {
		return false
	}
	if fwdHasPrefixFold(k, "content-") || strings.EqualFold(k, "Authorization") || strings.EqualFold(k, "Cookie") {
		return false
	}
	// Trailer names arrive canonical from net/http, as head's keys are;
	// CanonicalHeaderKey allocates only for another spelling.
	_, inHead := head[http.CanonicalHeaderKey(k)]
	return !inHead
}
