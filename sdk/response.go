package sdk

import (
	"context"
	"fmt"
	"net/http"

	"golang.org/x/net/http/httpguts"
)

// ResponseReviewer is implemented by an HTTPMiddleware that wants to see the
// head of each final response of the tunnels it joined, before the visitor
// gets it, and to answer header edits for it: a header added only to HTML
// pages, a Location or Set-Cookie rewritten. Serve sets
// Manifest.ResponseHead from the type, so the edge calls ReviewResponse only
// for plugins that implement it.
//
// The body never crosses the process boundary: it stays in the edge and
// streams to the visitor. For edits that do not depend on the response, a
// plugin returns static HeaderEdits from OpenTunnel instead, which cost no
// call at all.
type ResponseReviewer interface {
	// ReviewResponse answers edits for one response head. ctx carries the
	// edge's deadline (the same as Check's, 250 ms by default): a late
	// answer, an error or edits that fail ResponseEdits.Validate make the
	// edge answer 503 with its own page, never the unedited response.
	// Answers with a cache hint are reused for responses of the same tunnel
	// with the same status and the same values of the named response
	// headers.
	ReviewResponse(ctx context.Context, head *ResponseHead) (ResponseEdits, error)
}

// ResponseHead is the head of one final response of a tunnel's service as
// a ResponseReviewer sees it, with what the edge knows of the request it
// answers. It is called for every final response, not for 1xx responses, a
// 101 protocol switch, the edge's own pages or a middleware's own answer.
type ResponseHead struct {
	// TunnelID names the tunnel (as given to OpenTunnel).
	TunnelID string
	// Method is the request's method, e.g. "GET".
	Method string
	// Host is the request's host, normalised by the edge.
	Host string
	// Path is the request path as sent, percent-encoding kept.
	Path string
	// Status is the response's status code, 200 to 999.
	Status int
	// Header holds the response headers with canonical names, without
	// hop-by-hop and framing headers (Connection, Transfer-Encoding,
	// Content-Length, …), after the edits of plugins earlier in the
	// chain and before the tunnel's static edits, which win.
	Header http.Header
	// Identity is who the request's middleware authenticated; nil if none.
	Identity *Identity
}

// ResponseEdits is ReviewResponse's answer: RemoveHeaders are deleted, then
// SetHeaders replace any header of the same name. The zero value edits
// nothing.
type ResponseEdits struct {
	// SetHeaders replace any response header of the same name.
	SetHeaders http.Header
	// RemoveHeaders are deleted before SetHeaders are applied.
	RemoveHeaders []string
	// Cache, when set, lets the edge reuse these edits for responses of
	// the same tunnel with the same status whose RESPONSE headers named in
	// DependsOn carry the same values (e.g. ["Content-Type"]), for TTL.
	// Nil means every response is asked about.
	Cache *CacheHint
}

// Validate reports the first problem that makes e unusable by the edge:
// more than MaxHeaderEdits names (set and removed together) or more than
// MaxHeaderEditBytes of names and values, a name HeaderNotEditable refuses
// (not a token, the edge's own, hop-by-hop or framing, Host), a value with
// a control character (CR, LF, NUL …), or a cache hint that Verdict.Validate
// would refuse. The edge treats invalid edits as a failed call (503).
func (e ResponseEdits) Validate() error {
	if n := len(e.SetHeaders) + len(e.RemoveHeaders); n > MaxHeaderEdits {
		return fmt.Errorf("sdk: response edits: %d header edits, at most %d", n, MaxHeaderEdits)
	}
	size := 0
	for _, name := range e.RemoveHeaders {
		if why := HeaderNotEditable(name); why != "" {
			return fmt.Errorf("sdk: response edits: remove header %q %s", name, why)
		}
		size += len(name)
	}
	for name, values := range e.SetHeaders {
		if why := HeaderNotEditable(name); why != "" {
			return fmt.Errorf("sdk: response edits: set header %q %s", name, why)
		}
		size += len(name)
		for _, v := range values {
			if !httpguts.ValidHeaderFieldValue(v) {
				return fmt.Errorf("sdk: response edits: the value of %q has a control character", name)
			}
			size += len(v)
		}
	}
	if size > MaxHeaderEditBytes {
		return fmt.Errorf("sdk: response edits: %d bytes, at most %d", size, MaxHeaderEditBytes)
	}
	return e.Cache.validate()
}

// Empty reports whether e edits nothing.
func (e ResponseEdits) Empty() bool { return len(e.SetHeaders) == 0 && len(e.RemoveHeaders) == 0 }

// Apply applies e to h: RemoveHeaders first, then SetHeaders. Value slices
// are copied, so h shares none with e.
func (e ResponseEdits) Apply(h http.Header) {
	for _, name := range e.RemoveHeaders {
		h.Del(name)
	}
	for name, values := range e.SetHeaders {
		h[http.CanonicalHeaderKey(name)] = append([]string(nil), values...)
	}
}
