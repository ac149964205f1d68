package sdk

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"golang.org/x/net/http/httpguts"
)

// HTTPMiddleware is a plugin that looks at each HTTP request of the tunnels
// it joined before the request goes upstream: authentication, header edits,
// policy.
type HTTPMiddleware interface {
	Plugin
	// Check decides about one request head. ctx carries the edge's deadline
	// (250 ms by default): a late answer, an error or a verdict that fails
	// Verdict.Validate makes the edge answer 503, never the upstream.
	Check(ctx context.Context, req *Request) (Verdict, error)
}

// Request is the head of an HTTP request as a middleware sees it. Bodies
// reach only plugins that ask for them (Manifest.RequestBody).
type Request struct {
	// TunnelID names the tunnel (as given to OpenTunnel).
	TunnelID string
	// Method is the HTTP method, e.g. "GET".
	Method string
	// Host is the request's host, normalised by the edge (lowercase, no
	// port).
	Host string
	// Path is the request path as sent, percent-encoding kept.
	Path string
	// RawQuery is the query string without "?".
	RawQuery string
	// Header holds the request headers with canonical names, without Host.
	// The edge has already removed forwarding and identity headers that a
	// visitor must not set (EdgeOwnedHeaders).
	Header http.Header
	// ClientAddr is the visitor's address.
	ClientAddr netip.AddrPort
	// TLS describes the TLS connection; nil for plain HTTP.
	TLS *TLSFacts
	// Body is the request's whole body, for a plugin whose manifest sets
	// RequestBody (nil for others, and empty for a request without one).
	Body []byte
}

// TLSFacts describes the TLS connection a request came over.
type TLSFacts struct {
	// ServerName is the SNI name the visitor sent.
	ServerName string
	// Version is the TLS version, e.g. tls.VersionTLS13.
	Version uint16
}

// Identity names who a middleware authenticated.
type Identity struct {
	// ID is a stable identifier (user name, subject).
	ID string
	// Name is a display name.
	Name string
	// Email is the user's email address, if known.
	Email string
}

// Verdict is Check's answer: exactly one of Continue and Respond is set.
type Verdict struct {
	// Continue lets the request go on upstream, with header edits.
	Continue *Continue
	// Respond answers the visitor directly.
	Respond *Response
	// Cache, when set, lets the edge reuse this verdict. Nil means every
	// request is asked about.
	Cache *CacheHint
}

// Continue lets a request go on upstream.
type Continue struct {
	// SetHeaders replace any request header of the same name upstream.
	SetHeaders http.Header
	// RemoveHeaders are deleted before the request goes upstream (before
	// SetHeaders are applied).
	RemoveHeaders []string
	// Identity is who the middleware authenticated, if anyone.
	Identity *Identity
}

// Response is a direct answer to the visitor.
type Response struct {
	// Status is an HTTP status code, 100 to 599.
	Status int
	// Header holds the response headers.
	Header http.Header
	// Body is the response body, at most MaxBodyBytes.
	Body []byte
	// OwnerNote is a line for the tunnel owner's session saying why the
	// request was answered so ("webhook signature did not verify (github):
	// signature mismatch"): one line of at most MaxOwnerNote bytes, never
	// a secret. "" prints nothing beyond the request line.
	OwnerNote string
}

// CacheHint says how far a verdict may be reused: for the same tunnel, while
// the request headers named in DependsOn carry the same values, for TTL.
type CacheHint struct {
	// DependsOn names the request headers the verdict depended on, e.g.
	// ["Authorization"]. Empty means the verdict holds for every request of
	// the tunnel.
	DependsOn []string
	// TTL is how long the verdict stays valid. Zero means do not cache; the
	// edge caps it at MaxCacheTTL.
	TTL time.Duration
}

const (
	// MaxBodyBytes bounds a Response body.
	MaxBodyBytes = 64 << 10
	// MaxOwnerNote bounds a Response's OwnerNote.
	MaxOwnerNote = 512
	// MaxCacheTTL is the longest the edge keeps a cached verdict.
	MaxCacheTTL = 5 * time.Minute
	// maxHeaderEdits bounds the header names in one verdict.
	maxHeaderEdits = 64
)

// framingHeaders may not be set or removed by a middleware: the edge owns
// message framing and routing, and editing them would let a plugin smuggle
// requests.
var framingHeaders = map[string]bool{
	"Host":              true,
	"Content-Length":    true,
	"Transfer-Encoding": true,
	"Connection":        true,
	"Te":                true,
	"Trailer":           true,
}

// ErrEmptyVerdict is returned by Verdict.Validate when neither Continue nor
// Respond is set.
var ErrEmptyVerdict = errors.New("sdk: verdict: neither continue nor respond is set")

// Validate reports the first problem that makes v unusable: both or neither
// of Continue and Respond set, a status outside 100-599, a body over
// MaxBodyBytes, an invalid header name or value, an edit of a framing header
// (Host, Content-Length, Transfer-Encoding, Connection, TE, Trailer), or a
// negative TTL. The edge treats an invalid verdict as a failed call.
func (v Verdict) Validate() error {
	switch {
	case v.Continue == nil && v.Respond == nil:
		return ErrEmptyVerdict
	case v.Continue != nil && v.Respond != nil:
		return errors.New("sdk: verdict: both continue and respond are set")
	}
	if c := v.Continue; c != nil {
		if len(c.SetHeaders)+len(c.RemoveHeaders) > maxHeaderEdits {
			return fmt.Errorf("sdk: verdict: %d header edits, at most %d", len(c.SetHeaders)+len(c.RemoveHeaders), maxHeaderEdits)
		}
		if err := validateHeader("continue set header", c.SetHeaders, true); err != nil {
			return err
		}
		for _, name := range c.RemoveHeaders {
			if err := validateHeaderName("continue remove header", name, true); err != nil {
				return err
			}
		}
	}
	if r := v.Respond; r != nil {
		if r.Status < 100 || r.Status > 599 {
			return fmt.Errorf("sdk: verdict: respond status %d is outside 100-599", r.Status)
		}
		if len(r.Body) > MaxBodyBytes {
			return fmt.Errorf("sdk: verdict: respond body is %d bytes, at most %d", len(r.Body), MaxBodyBytes)
		}
		if len(r.OwnerNote) > MaxOwnerNote {
			return fmt.Errorf("sdk: verdict: owner note is %d bytes, at most %d", len(r.OwnerNote), MaxOwnerNote)
		}
		if len(r.Header) > maxHeaderEdits {
			return fmt.Errorf("sdk: verdict: respond has %d headers, at most %d", len(r.Header), maxHeaderEdits)
		}
		if err := validateHeader("respond header", r.Header, true); err != nil {
			return err
		}
	}
	return v.Cache.validate()
}

// validate checks a cache hint of a verdict or of response edits: a
// non-negative TTL and at most maxHeaderEdits valid header names. A nil
// hint is valid.
func (h *CacheHint) validate() error {
	if h == nil {
		return nil
	}
	if h.TTL < 0 {
		return fmt.Errorf("sdk: verdict: cache ttl %v is negative", h.TTL)
	}
	if len(h.DependsOn) > maxHeaderEdits {
		return fmt.Errorf("sdk: verdict: cache depends on %d headers, at most %d", len(h.DependsOn), maxHeaderEdits)
	}
	for _, name := range h.DependsOn {
		if err := validateHeaderName("cache depends-on header", name, false); err != nil {
			return err
		}
	}
	return nil
}

func validateHeader(what string, h http.Header, noFraming bool) error {
	for name, values := range h {
		if err := validateHeaderName(what, name, noFraming); err != nil {
			return err
		}
		for _, v := range values {
			if !httpguts.ValidHeaderFieldValue(v) {
				return fmt.Errorf("sdk: verdict: %s %q has an invalid value", what, name)
			}
		}
	}
	return nil
}

func validateHeaderName(what, name string, noFraming bool) error {
	if !httpguts.ValidHeaderFieldName(name) {
		return fmt.Errorf("sdk: verdict: %s name %q is not a valid header name", what, name)
	}
	if noFraming && framingHeaders[http.CanonicalHeaderKey(name)] {
		return fmt.Errorf("sdk: verdict: %s %q is owned by the edge", what, name)
	}
	return nil
}
