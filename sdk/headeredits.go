package sdk

import (
	"fmt"
	"net/http"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// HeaderEdits are static header rewrites of an http tunnel, part of the
// StaticRules a plugin returns from OpenTunnel: the edge applies them
// itself to every request and response of the tunnel, with no call to the
// plugin. Request edits are applied after every middleware's verdict (a
// middleware never sees them: an edit cannot forge what basic auth or
// OAuth checks) and before the edge sets its own headers; response edits
// are applied to the head of each final response of the tunnel's service
// (not to a 101 switch, nor to the pages and verdicts the edge answers
// itself). Removals come before additions, so removing a name and adding
// it replaces it.
//
// Only end-to-end headers may be edited: names for which
// HeaderNotEditable gives a reason (the edge's own headers of
// EdgeOwnedHeaders, hop-by-hop and framing headers, Host outside the Host
// field) are refused, so an edit can neither forge the visitor's address or
// identity nor smuggle a request. Edits of several plugins of one tunnel
// apply one after the other, in plugin name order; at most one may set
// Host.
type HeaderEdits struct {
	// RequestRemove names request headers removed before the request goes
	// upstream.
	RequestRemove []string
	// RequestAdd are fields added to the request after RequestRemove, in
	// order. A header the request already has gets one more value (a
	// second field line), as ngrok's add-headers does.
	RequestAdd []HeaderField
	// ResponseRemove names response headers removed before the response
	// reaches the visitor.
	ResponseRemove []string
	// ResponseAdd are fields added to the response after ResponseRemove.
	ResponseAdd []HeaderField
	// Host, when not empty, is the Host header the tunnel's service gets
	// instead of the public host name, e.g. "localhost:3000" (a host name
	// or IP address with an optional port). X-Forwarded-Host keeps the
	// public one.
	Host string
}

// HeaderField is one header field: a name (a token, any case) and a value.
type HeaderField struct {
	Name  string
	Value string
}

const (
	// MaxHeaderEdits bounds the edits of one HeaderEdits: the names of its
	// four lists together, with Host counting as one.
	MaxHeaderEdits = maxHeaderEdits
	// MaxHeaderEditBytes bounds the bytes of every name and value of one
	// HeaderEdits together, Host included.
	MaxHeaderEditBytes = 8 << 10
	// maxHostBytes bounds HeaderEdits.Host: a DNS name and a port.
	maxHostBytes = 253 + len(":65535")
)

// Empty reports whether e edits nothing.
func (e HeaderEdits) Empty() bool {
	return len(e.RequestRemove)+len(e.RequestAdd)+len(e.ResponseRemove)+len(e.ResponseAdd) == 0 && e.Host == ""
}

// Count returns the number of edits, as MaxHeaderEdits counts them.
func (e HeaderEdits) Count() int {
	n := len(e.RequestRemove) + len(e.RequestAdd) + len(e.ResponseRemove) + len(e.ResponseAdd)
	if e.Host != "" {
		n++
	}
	return n
}

// Bytes returns the size of every name and value together, as
// MaxHeaderEditBytes counts it.
func (e HeaderEdits) Bytes() int {
	n := len(e.Host)
	for _, list := range [][]string{e.RequestRemove, e.ResponseRemove} {
		for _, name := range list {
			n += len(name)
		}
	}
	for _, list := range [][]HeaderField{e.RequestAdd, e.ResponseAdd} {
		for _, f := range list {
			n += len(f.Name) + len(f.Value)
		}
	}
	return n
}

// Validate reports the first problem that makes e unusable by the edge:
// more than MaxHeaderEdits edits or MaxHeaderEditBytes bytes, a name that
// is not a token or that HeaderNotEditable refuses, a value with a
// control character (CR, LF, NUL …), or a Host that is not a host name or
// address with an optional port. The edge refuses a tunnel whose edits
// fail it.
func (e HeaderEdits) Validate() error {
	if n := e.Count(); n > MaxHeaderEdits {
		return fmt.Errorf("sdk: header edits: %d edits, at most %d", n, MaxHeaderEdits)
	}
	if n := e.Bytes(); n > MaxHeaderEditBytes {
		return fmt.Errorf("sdk: header edits: %d bytes, at most %d", n, MaxHeaderEditBytes)
	}
	for _, list := range [][]string{e.RequestRemove, e.ResponseRemove} {
		for _, name := range list {
			if why := HeaderNotEditable(name); why != "" {
				return fmt.Errorf("sdk: header edits: %q %s", name, why)
			}
		}
	}
	for _, list := range [][]HeaderField{e.RequestAdd, e.ResponseAdd} {
		for _, f := range list {
			if why := HeaderNotEditable(f.Name); why != "" {
				return fmt.Errorf("sdk: header edits: %q %s", f.Name, why)
			}
			if !httpguts.ValidHeaderFieldValue(f.Value) {
				return fmt.Errorf("sdk: header edits: the value of %q has a control character", f.Name)
			}
		}
	}
	if e.Host != "" && !ValidHostHeader(e.Host) {
		return fmt.Errorf("sdk: header edits: host %q is not a host name or address with an optional port", e.Host)
	}
	return nil
}

// HeaderNotEditable returns why a static header edit may not name the
// header name, as a phrase that follows the name in a sentence ("is not a
// valid header name"), or "" when it may. Names match ignoring case (and,
// for the edge's own headers, with '_' taken as '-'). Refused are:
//
//   - a name that is not an HTTP token;
//   - the edge's own headers (EdgeOwnedHeaders: X-Forwarded-*, Forwarded,
//     client-address headers, CDN-Loop, the X-Sshgress-* identity headers):
//     the service behind the edge trusts them;
//   - hop-by-hop headers (RFC 9110 7.6.1: Connection, Keep-Alive,
//     Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade, and the
//     Proxy-Authenticate/-Authorization pair) and the framing headers the
//     edge writes itself (Content-Length, Expect);
//   - Host, which only HeaderEdits.Host sets.
func HeaderNotEditable(name string) string {
	if !httpguts.ValidHeaderFieldName(name) {
		return "is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)"
	}
	if edgeOwnedName(name) {
		return "is one of the edge's own headers (X-Forwarded-*, Forwarded, the client-address and X-Sshgress-* identity headers), which the service behind the edge trusts, so no edit may set or remove it"
	}
	canon := http.CanonicalHeaderKey(name)
	if canon == "Host" {
		return "is the request's routing header; only the host edit sets it"
	}
	if framingHeaders[canon] || hopByHopOnly[canon] {
		return "is a hop-by-hop or framing header that the edge writes itself"
	}
	return ""
}

// hopByHopOnly are the hop-by-hop and framing headers a static edit may
// not name beyond framingHeaders (which a verdict may not edit either).
var hopByHopOnly = map[string]bool{
	"Keep-Alive":          true,
	"Proxy-Connection":    true,
	"Upgrade":             true,
	"Proxy-Authenticate":  true,
	"Proxy-Authorization": true,
	"Expect":              true,
}

// edgeOwnedName reports whether name is in EdgeOwnedHeaders, stripped
// from visitors or appended to (CDN-Loop).
func edgeOwnedName(name string) bool {
	if StrippedFromVisitors(name) {
		return true
	}
	for _, h := range edgeOwned {
		if h.Appended && len(name) == len(h.Name) && hasHeaderPrefix(name, strings.ToLower(h.Name)) {
			return true
		}
	}
	return false
}

// ValidHostHeader reports whether host is a Host header value a static
// edit may set: a DNS name, an IPv4 address or a bracketed IPv6 address,
// with an optional port, at most 259 bytes, with no character outside
// those.
func ValidHostHeader(host string) bool {
	if host == "" || len(host) > maxHostBytes || !httpguts.ValidHostHeader(host) {
		return false
	}
	name, port := host, ""
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
		name, port = host[:i], host[i+1:]
		if port == "" || len(port) > 5 {
			return false
		}
		for _, c := range []byte(port) {
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	if strings.HasPrefix(name, "[") {
		return strings.HasSuffix(name, "]") && len(name) > 2 && strings.Trim(name[1:len(name)-1], "0123456789abcdefABCDEF:.") == ""
	}
	if name == "" {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		if label == "" || len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return false
		}
		for _, c := range []byte(label) {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// ParseHeaderField parses a "Name: value" flag value such as
// --request-header-add's: the name before the first colon, the value
// after it with surrounding spaces and tabs trimmed. The name must pass
// HeaderNotEditable and the value be one line of text. Errors are
// UserErrors naming the flag and the header name; the value is never
// repeated (it may be a credential meant for the service).
func ParseHeaderField(flag, s string) (HeaderField, error) {
	name, value, ok := strings.Cut(s, ":")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		return HeaderField{}, UserErrorf(`--%s takes "Name: value", a header name, a colon and the value, e.g. --%s 'X-Env: staging'`, flag, flag)
	}
	if why := HeaderNotEditable(name); why != "" {
		return HeaderField{}, UserErrorf("--%s: %q %s", flag, name, why)
	}
	value = strings.Trim(value, " \t")
	if !httpguts.ValidHeaderFieldValue(value) {
		return HeaderField{}, UserErrorf("--%s: the value of %q has a control character (CR, LF, NUL or another); a header value is one line of text", flag, name)
	}
	return HeaderField{Name: name, Value: value}, nil
}

// ParseHeaderName checks a header name flag value such as
// --request-header-remove's with HeaderNotEditable. Errors are
// UserErrors naming the flag.
func ParseHeaderName(flag, s string) (string, error) {
	name := strings.TrimSpace(s)
	if why := HeaderNotEditable(name); why != "" {
		return "", UserErrorf("--%s: %q %s", flag, name, why)
	}
	return name, nil
}
