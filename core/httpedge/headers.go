package httpedge

import (
	"net/http"
	"net/netip"
	"strings"
)

// StripVisitorHeaders removes the request headers a visitor must not be able
// to set because the upstream may trust them: every X-Forwarded-* header
// (For, Proto, Host, Port, Prefix, Ssl, Scheme, Server, Client-Cert, ...),
// Forwarded, X-Real-Ip, X-Client-Ip, True-Client-Ip, X-Url-Scheme,
// Front-End-Https, and every header starting with X-Sshgress- (the edge's
// identity headers).
//
// Names are matched case-insensitively and with '_' taken as '-', since
// some frameworks (CGI, PHP, nginx with underscores_in_headers) map both to
// the same variable: "X_Forwarded_For" and "x-sshgress_user-email" are
// removed too. Call it before middleware runs and before SetForwarded.
func StripVisitorHeaders(h http.Header) {
	for k := range h {
		if fwdSpoofable(k) {
			delete(h, k)
		}
	}
}

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

// fwdSpoofable reports whether a visitor-sent header named k must be
// stripped (see StripVisitorHeaders).
func fwdSpoofable(k string) bool {
	if len(k) < 9 { // shortest match: "forwarded"
		return false
	}
	switch k[0] {
	case 'X', 'x':
		return fwdHasPrefixFold(k, "x-forwarded-") ||
			fwdHasPrefixFold(k, "x-sshgress-") ||
			fwdNameIs(k, "x-real-ip") ||
			fwdNameIs(k, "x-client-ip") ||
			fwdNameIs(k, "x-url-scheme")
	case 'F', 'f':
		return fwdNameIs(k, "forwarded") || fwdNameIs(k, "front-end-https")
	case 'T', 't':
		return fwdNameIs(k, "true-client-ip")
	}
	return false
}

// fwdNameIs reports whether header name k equals want (lowercase, with '-')
// ignoring ASCII case and taking '_' as '-'.
func fwdNameIs(k, want string) bool {
	return len(k) == len(want) && fwdHasPrefixFold(k, want)
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
