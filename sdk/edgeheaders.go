package sdk

import "strings"

// EdgeOwnedHeader is a request header, or a family of them, that the edge
// owns: a middleware never sees a visitor's value of it in Request.Header,
// and for some the edge sets its own value after the middleware chain ran.
// An upstream can trust these headers because a visitor cannot send them.
type EdgeOwnedHeader struct {
	// Name is the header's canonical name (http.CanonicalHeaderKey), or
	// with Prefix set the start of every name in the family, ending in "-".
	Name string
	// Prefix makes Name stand for every header whose name starts with it
	// ("X-Forwarded-" covers X-Forwarded-Port, X-Forwarded-Ssl, …).
	Prefix bool
	// Appended marks the one kind of header the edge does not strip: it
	// keeps the visitor's values and adds its own (CDN-Loop, RFC 8586,
	// which proxies in front of the edge fill in). Every other header of
	// the list is removed from each visitor request before middleware
	// runs.
	Appended bool
	// SetByEdge marks a header the edge sets on every forwarded request
	// after the middleware chain ran: a value a middleware set is replaced
	// (X-Forwarded-For, -Proto, -Host) or, for an Appended header, added
	// to.
	SetByEdge bool
}

// edgeOwned is the list EdgeOwnedHeaders returns and StrippedFromVisitors
// matches: the one place it is written.
var edgeOwned = [...]EdgeOwnedHeader{
	// What the edge tells the upstream about the visitor (the edge is the
	// first proxy: X-Forwarded-For is the visitor's address alone).
	{Name: "X-Forwarded-For", SetByEdge: true},
	{Name: "X-Forwarded-Proto", SetByEdge: true},
	{Name: "X-Forwarded-Host", SetByEdge: true},
	{Name: "Cdn-Loop", Appended: true, SetByEdge: true},
	// The edge's identity headers: only a middleware's verdict sets them
	// (the OAuth plugin's X-Sshgress-User-Email, …).
	{Name: "X-Sshgress-", Prefix: true},
	// Headers an upstream may read as the client's address, scheme, host
	// or URL, in the spellings of common proxies, CDNs and frameworks.
	{Name: "X-Forwarded-", Prefix: true},
	{Name: "X-Forwarded"},
	{Name: "Forwarded"},
	{Name: "X-Original-", Prefix: true}, // -Url, -Host, -Forwarded-For, -Uri
	{Name: "X-Real-Ip"},
	{Name: "X-Client-Ip"},
	{Name: "X-Cluster-Client-Ip"},
	{Name: "X-Remote-Ip"},
	{Name: "X-Remote-Addr"},
	{Name: "X-Originating-Ip"},
	{Name: "X-Rewrite-Url"},
	{Name: "X-Url-Scheme"},
	{Name: "Front-End-Https"},
	{Name: "Fastly-Client-Ip"},
	{Name: "True-Client-Ip"},
	{Name: "Client-Ip"},
	{Name: "Cf-Connecting-Ip"},
	{Name: "Cf-Connecting-Ipv6"},
}

// EdgeOwnedHeaders returns the request headers the edge owns (a new slice
// each call). A middleware must not expect to read a visitor's value of a
// stripped one in Request.Header: the edge removed it before calling, so an
// upstream behind the edge can trust it. Setting one in a verdict's
// SetHeaders works only where nothing later overrides it: the edge replaces
// the headers marked SetByEdge after the chain ran. The identity family
// X-Sshgress-* is meant for exactly that: only a middleware sets it.
//
// Hop-by-hop headers (RFC 9110 7.6.1) and the headers a visitor names in
// Connection are removed from visitor requests too, and a verdict may not
// edit the framing headers (see Verdict.Validate); they are not listed here.
func EdgeOwnedHeaders() []EdgeOwnedHeader {
	out := make([]EdgeOwnedHeader, len(edgeOwned))
	copy(out, edgeOwned[:])
	return out
}

// StrippedFromVisitors reports whether the edge removes a visitor's request
// header named name before middleware runs: it is in EdgeOwnedHeaders and
// not Appended. Names match ignoring ASCII case and with '_' taken as '-',
// since some frameworks (CGI, PHP, nginx with underscores_in_headers) map
// both to the same variable: "X_Forwarded_For" and "x-sshgress_user-email"
// are stripped too. It does not allocate.
func StrippedFromVisitors(name string) bool { return stripped.match(name) }

// stripped matches the names of edgeOwned that are stripped from visitors.
var stripped = newHeaderMatcher(edgeOwned[:])

// headerMatcher matches header names against a fixed list, without
// allocating: the common header that is not in the list fails on its
// length or first byte.
type headerMatcher struct {
	minLen   int
	first    [256]bool  // first bytes, both cases, of any entry
	exact    [][]string // exact[n]: lowercase names of length n
	prefixes []string   // lowercase
}

func newHeaderMatcher(list []EdgeOwnedHeader) *headerMatcher {
	m := &headerMatcher{minLen: -1}
	for _, h := range list {
		if h.Appended {
			continue
		}
		n := strings.ToLower(h.Name)
		if m.minLen < 0 || len(n) < m.minLen {
			m.minLen = len(n)
		}
		m.first[n[0]] = true
		m.first[h.Name[0]] = true // canonical: upper case
		if h.Prefix {
			m.prefixes = append(m.prefixes, n)
			continue
		}
		for len(m.exact) <= len(n) {
			m.exact = append(m.exact, nil)
		}
		m.exact[len(n)] = append(m.exact[len(n)], n)
	}
	return m
}

func (m *headerMatcher) match(k string) bool {
	if len(k) < m.minLen || !m.first[k[0]] {
		return false
	}
	for _, p := range m.prefixes {
		if hasHeaderPrefix(k, p) {
			return true
		}
	}
	if len(k) < len(m.exact) {
		for _, n := range m.exact[len(k)] {
			if hasHeaderPrefix(k, n) {
				return true
			}
		}
	}
	return false
}

// hasHeaderPrefix reports whether header name k starts with prefix
// (lowercase, with '-'), ignoring ASCII case and taking '_' as '-'.
func hasHeaderPrefix(k, prefix string) bool {
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
