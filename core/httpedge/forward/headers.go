package forward

import (
	"net/http"
	"strings"

	"github.com/sshgress/sshgress/sdk"
)

// hopHeader reports whether k is a hop-by-hop header of RFC 9110 7.6.1
// (plus the obsolete Proxy-Connection and Keep-Alive, and the
// proxy-authentication headers meant for the edge, not the upstream).
func hopHeader(k string) bool {
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

// ConnectionHas reports whether the Connection header values conn name
// the token k, a header name or an option such as "upgrade"
// (comma-separated tokens, case-insensitive).
func ConnectionHas(conn []string, k string) bool {
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

// HopByHop reports whether the header k must not cross the edge: a
// hop-by-hop header of RFC 9110 7.6.1 (with Keep-Alive, Proxy-Connection
// and the Proxy-Authenticate/-Authorization pair meant for a proxy), or
// one named in the message's Connection header values conn. Forward
// leaves such headers out of the requests and responses it copies;
// httpedge.StripVisitorHeaders removes them from visitors' requests.
func HopByHop(conn []string, k string) bool {
	return hopHeader(k) || (len(conn) > 0 && ConnectionHas(conn, k))
}

// copyResponseHeader adds the end-to-end headers of src to dst. The
// value slices are shared, not copied: src must not be modified afterwards.
func copyResponseHeader(dst, src http.Header) {
	conn := src["Connection"]
	for k, vv := range src {
		if HopByHop(conn, k) {
			continue
		}
		if old, ok := dst[k]; ok {
			dst[k] = append(old, vv...)
		} else {
			dst[k] = vv
		}
	}
}

// forwardTrailer reports whether a visitor's request trailer named k
// may reach the upstream after a request whose forwarded head is head.
// Trailers get the same stripping as headers (sdk.StrippedFromVisitors,
// hop-by-hop), and more, because some servers merge trailers into the header map: a
// trailer that frames, routes or authenticates (RFC 9110 6.5.1: Host,
// Content-*, Authorization, Cookie, the framing headers the edge writes)
// is dropped, and so is one with the name of any header in head, so a
// trailer can never add a value to one the edge or a middleware set.
func forwardTrailer(head http.Header, k string) bool {
	if sdk.StrippedFromVisitors(k) || hopHeader(k) || requestFraming(k) {
		return false
	}
	// Content-*, also spelt with '_' (k is a valid token: ASCII only).
	if len(k) >= 8 && strings.EqualFold(strings.ReplaceAll(k[:8], "_", "-"), "content-") ||
		strings.EqualFold(k, "Authorization") || strings.EqualFold(k, "Cookie") {
		return false
	}
	// Trailer names arrive canonical from net/http, as head's keys are;
	// CanonicalHeaderKey allocates only for another spelling.
	_, inHead := head[http.CanonicalHeaderKey(k)]
	return !inHead
}
