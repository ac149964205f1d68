package inspect

import (
	"net/http"
	"strings"
)

// Redacted replaces the value of a header that may hold a secret.
const Redacted = "[redacted]"

// ReplayHeader marks a request the inspector replayed; the edge sets it
// itself (visitors' X-Sshgress-* headers are stripped).
const ReplayHeader = "X-Sshgress-Replay"

// Secret reports whether the header named k (canonical or not) holds a
// secret that is never kept: credentials, cookies and the edge's
// identity headers (see the package doc).
func Secret(k string) bool {
	switch k = http.CanonicalHeaderKey(k); k {
	case "Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie":
		return true
	case ReplayHeader, "X-Sshgress-Error":
		return false
	}
	return strings.HasPrefix(k, "X-Sshgress-")
}

// redactHeader returns a copy of h with secret values replaced by
// Redacted, keeping at most max bytes of names and values (the rest is
// left out and truncated reported).
func redactHeader(h http.Header, max int) (out http.Header, size int, truncated bool) {
	out = make(http.Header, len(h))
	for k, vv := range h {
		for _, v := range vv {
			if Secret(k) {
				v = Redacted
			}
			if size+len(k)+len(v) > max {
				truncated = true
				continue
			}
			size += len(k) + len(v)
			out[k] = append(out[k], v)
		}
	}
	return out, size, truncated
}
