package httpedge

import (
	"html"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sshgress/sshgress/core/httpedge/forward"
)

// Page is a status page the edge shows a visitor instead of an upstream
// response. Its text is plain (it is escaped when rendered as HTML).
type Page struct {
	// Status is the HTTP status code sent with the page.
	Status int
	// Code is the stable error code shown on the page and sent in the
	// X-Sshgress-Error header, for support requests and scripts.
	Code string
	// Title is the page's one-line headline.
	Title string
	// Detail says what happened and what to do. Each "%s" in it is replaced
	// by the host name given to WritePage (sanitised and escaped).
	Detail string
	// NoHost, if set, replaces Detail when WritePage is given no host name
	// (where "this address" would not read as a sentence).
	NoHost string
}

// The status pages of the edge. Their Code values are stable: scripts and
// documentation refer to them.
var (
	// PageNoTunnel answers a Host that no tunnel serves (404).
	PageNoTunnel = Page{
		Status: http.StatusNotFound,
		Code:   "ERR_SSHGRESS_NO_TUNNEL",
		Title:  "Tunnel not found",
		Detail: "There is no tunnel at %s. If it is yours, check that your ssh command is still running.",
	}
	// PageUpstreamDown answers when the tunnel owner's local service could
	// not be reached or closed the connection without answering (502).
	PageUpstreamDown = Page{
		Status: http.StatusBadGateway,
		Code:   "ERR_SSHGRESS_UPSTREAM",
		Title:  "The tunnel's service did not answer",
		Detail: "The service on the tunnel owner's machine did not answer the request for %s. If this is your tunnel, check that the local service is running and listening on the address given to ssh -R.",
	}
	// PageBadUpstream answers when the local service sent something that is
	// not a valid HTTP response (502), typically because the tunnel points
	// at an HTTPS or non-HTTP port.
	PageBadUpstream = Page{
		Status: http.StatusBadGateway,
		Code:   "ERR_SSHGRESS_BAD_RESPONSE",
		Title:  "Invalid response from the tunnel's service",
		Detail: "The service behind %s sent a response that is not valid HTTP. If this is your tunnel, check that ssh -R points at a plain HTTP port (not HTTPS or another protocol).",
	}
	// PageUnavailable answers when a limit is reached or a plugin the
	// tunnel depends on failed (503, with Retry-After: 5). It fails closed:
	// the upstream is never reached.
	PageUnavailable = Page{
		Status: http.StatusServiceUnavailable,
		Code:   "ERR_SSHGRESS_UNAVAILABLE",
		Title:  "Temporarily unavailable",
		Detail: "The tunnel at %s cannot take this request right now. Try again in a few seconds.",
	}
	// PageBadHost answers a request whose Host is not a valid name (400).
	PageBadHost = Page{
		Status: http.StatusBadRequest,
		Code:   "ERR_SSHGRESS_BAD_HOST",
		Title:  "Invalid host name",
		Detail: "The host name %s in this request is not valid.",
		NoHost: "This request names no host (an HTTP/1.0 request without a Host header), so it cannot reach a tunnel. Send the tunnel's host name in a Host header.",
	}
	// PageMalformed answers a request the HTTP/1 loop refuses before
	// routing: a malformed or ambiguous head (400), one too large (431),
	// an unsupported transfer coding (501), Expect (417) or HTTP version
	// (505); writeRefusal sets the status and the reason.
	PageMalformed = Page{
		Status: http.StatusBadRequest,
		Code:   "ERR_SSHGRESS_MALFORMED_REQUEST",
		Title:  "Bad request",
		Detail: "The edge could not accept this request. It was not passed on.",
	}
	// PageBadBody answers a request whose body the visitor's client framed
	// wrongly or cut short (bad chunk sizes or line ends, a body shorter
	// than its Content-Length): the visitor's fault, so 400, never a 502
	// blamed on the tunnel's service. The upstream got no complete request.
	PageBadBody = Page{
		Status: http.StatusBadRequest,
		Code:   "ERR_SSHGRESS_BAD_BODY",
		Title:  "Malformed request body",
		Detail: "The body of this request for %s was malformed or cut short (for example bad chunked encoding), so it was not passed on to the tunnel's service. Fix the client that sent it.",
	}
	// PageBodyTimeout answers a request whose body stopped arriving for
	// longer than the body idle timeout (408).
	PageBodyTimeout = Page{
		Status: http.StatusRequestTimeout,
		Code:   "ERR_SSHGRESS_BODY_TIMEOUT",
		Title:  "Request body timed out",
		Detail: "The body of this request for %s stopped arriving, so it was not passed on to the tunnel's service. Send it again.",
	}
	// PageBodyTooLarge answers a request whose body is longer than the
	// edge buffers for a plugin that must see it (413), before the plugin
	// or the tunnel's service sees any of it.
	PageBodyTooLarge = Page{
		Status: http.StatusRequestEntityTooLarge,
		Code:   "ERR_SSHGRESS_BODY_TOO_LARGE",
		Title:  "Request body too large",
		Detail: "The body of this request for %s is longer than this edge checks for the tunnel (its webhook verification reads the whole body first), so it was not passed on. Send a smaller body.",
	}
	// PageMisdirected answers a request whose Host this connection cannot
	// serve, e.g. a TLS connection made for another name (421).
	PageMisdirected = Page{
		Status: http.StatusMisdirectedRequest,
		Code:   "ERR_SSHGRESS_MISDIRECTED",
		Title:  "Misdirected request",
		Detail: "This connection cannot serve requests for %s. Open a new connection to that address.",
	}
)

// PageLoop answers a request that came back to the edge it was forwarded
// from: the tunnel's ssh -R points at the edge's own port (508).
var PageLoop = Page{
	Status: http.StatusLoopDetected,
	Code:   "ERR_SSHGRESS_LOOP",
	Title:  "Loop detected",
	Detail: "The tunnel at %s forwards requests back to this edge instead of to a service, so they would go round forever. If this is your tunnel, point ssh -R at your local service (e.g. -R 80:localhost:3000), not at the edge's own port.",
}

// PageForbidden answers a visitor the tunnel's static rules refuse
// (--cidr-deny, --ua-filter-deny and the like): 403, without asking a
// plugin or the upstream.
var PageForbidden = Page{
	Status: http.StatusForbidden,
	Code:   "ERR_SSHGRESS_FORBIDDEN",
	Title:  "Access denied",
	Detail: "The owner of the tunnel at %s does not accept requests from your address or client.",
}

// PageRateLimited answers a visitor over the tunnel's --rate-limit (429,
// with Retry-After), without asking a plugin or the upstream.
var PageRateLimited = Page{
	Status: http.StatusTooManyRequests,
	Code:   "ERR_SSHGRESS_RATE_LIMITED",
	Title:  "Too many requests",
	Detail: "You sent more requests to %s than its owner allows. Wait for the time in the Retry-After header, then try again.",
}

// PageCircuitOpen answers while the tunnel's --circuit-breaker is tripped
// (503, with Retry-After): the tunnel's service answered too many
// requests with errors, so the edge does not call it for a while.
var PageCircuitOpen = Page{
	Status: http.StatusServiceUnavailable,
	Code:   "ERR_SSHGRESS_CIRCUIT_OPEN",
	Title:  "Service paused after errors",
	Detail: "The service behind %s answered too many recent requests with errors, so the edge is giving it a short pause. Try again in a few seconds.",
}

// pageMethodNotAllowed answers CONNECT, which the edge never forwards (405).
var pageMethodNotAllowed = Page{
	Status: http.StatusMethodNotAllowed,
	Code:   "ERR_SSHGRESS_METHOD",
	Title:  "Method not allowed",
	Detail: "CONNECT requests cannot be sent through the tunnel at %s.",
}

// WriteFailurePage writes the status page for a request the forwarding
// engine failed itself (forward.Options.ErrorPage): PageUpstreamDown,
// PageBadUpstream, PageUnavailable (also for a failed response review),
// PageBadBody, PageBodyTimeout or the 405 page for CONNECT, each with the status f.Status() names. r.Host is
// the host shown.
func WriteFailurePage(w http.ResponseWriter, r *http.Request, f forward.Failure) {
	WritePage(w, r, failurePage(f), r.Host)
}

// failurePage returns the page of f; BadResponse and an unknown Failure get
// PageBadUpstream.
func failurePage(f forward.Failure) Page {
	switch f {
	case forward.UpstreamDown:
		return PageUpstreamDown
	case forward.Unavailable, forward.ReviewFailed:
		return PageUnavailable
	case forward.BadBody:
		return PageBadBody
	case forward.BodyTimeout:
		return PageBodyTimeout
	case forward.MethodNotAllowed:
		return pageMethodNotAllowed
	}
	return PageBadUpstream
}

// pageMaxHost bounds how much of a host name a page shows, in bytes.
const pageMaxHost = 253

// WritePage writes p as the response to r: HTML when the request's Accept
// header mentions text/html, plain text otherwise. host replaces "%s" in
// p.Detail (an empty host reads "this address", or p.NoHost is shown
// instead when set); it is sanitised (control and invalid characters become '?',
// long names are cut) and HTML-escaped, so a hostile Host header cannot
// inject markup. The page is small and self-contained (no external assets,
// a Content-Security-Policy that forbids scripts), and is sent with
// Cache-Control: no-store, X-Sshgress-Error: p.Code, and Retry-After: 5 for
// 503. No body is written for HEAD requests. Headers already in w that
// describe another body (Content-Encoding, ETag, ...) are removed.
func WritePage(w http.ResponseWriter, r *http.Request, p Page, host string) {
	status := p.Status
	if status < 100 || status > 999 {
		status = http.StatusInternalServerError
	}
	host = pageCleanHost(host)
	detail := p.Detail
	if host == "" {
		host = "this address"
		if p.NoHost != "" {
			detail = p.NoHost
		}
	}
	detail = strings.ReplaceAll(detail, "%s", host)

	var b strings.Builder
	h := w.Header()
	for _, k := range [...]string{"Content-Encoding", "Content-Range", "Etag", "Last-Modified", "Trailer", "Transfer-Encoding"} {
		delete(h, k)
	}
	if r != nil && pageWantsHTML(r.Header["Accept"]) {
		b.Grow(1024 + len(detail))
		b.WriteString(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>`)
		b.WriteString(strconv.Itoa(status))
		b.WriteByte(' ')
		b.WriteString(html.EscapeString(p.Title))
		b.WriteString(`</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:4em auto;padding:0 1em;color:#222}h1{font-size:1.4em}code{background:#eee;padding:.1em .3em;overflow-wrap:anywhere}p{overflow-wrap:anywhere}footer{color:#777;font-size:.85em;margin-top:3em}</style>
</head><body>
<h1>`)
		b.WriteString(html.EscapeString(p.Title))
		b.WriteString("</h1>\n<p>")
		b.WriteString(html.EscapeString(detail))
		b.WriteString("</p>\n<p>Error code: <code>")
		b.WriteString(html.EscapeString(p.Code))
		b.WriteString("</code></p>\n<footer>HTTP ")
		b.WriteString(strconv.Itoa(status))
		b.WriteString(" · sshgress</footer>\n</body></html>\n")
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	} else {
		b.Grow(64 + len(p.Title) + len(detail) + len(p.Code))
		b.WriteString(strconv.Itoa(status))
		b.WriteByte(' ')
		b.WriteString(p.Title)
		b.WriteString("\n\n")
		b.WriteString(detail)
		b.WriteString("\n\nError code: ")
		b.WriteString(p.Code)
		b.WriteByte('\n')
		h.Set("Content-Type", "text/plain; charset=utf-8")
	}
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Sshgress-Error", p.Code)
	if status == http.StatusServiceUnavailable && h.Get("Retry-After") == "" {
		h.Set("Retry-After", "5")
	}
	h.Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(status)
	if r == nil || r.Method != http.MethodHead {
		_, _ = io.WriteString(w, b.String())
	}
}

// pageWantsHTML reports whether an Accept header mentions text/html.
func pageWantsHTML(accept []string) bool {
	for _, v := range accept {
		if strings.Contains(strings.ToLower(v), "text/html") {
			return true
		}
	}
	return false
}

// pageCleanHost makes a visitor-supplied host fit for display: invalid
// UTF-8, control and non-printable characters become '?', and it is cut to
// pageMaxHost bytes with an ellipsis. It does not escape HTML.
func pageCleanHost(host string) string {
	clean := true
	for _, c := range host {
		if c == utf8.RuneError || !unicode.IsPrint(c) {
			clean = false
			break
		}
	}
	if clean && len(host) <= pageMaxHost {
		return host
	}
	var b strings.Builder
	for _, c := range host {
		if b.Len() >= pageMaxHost {
			b.WriteString("…")
			break
		}
		if c == utf8.RuneError || !unicode.IsPrint(c) {
			c = '?'
		}
		b.WriteRune(c)
	}
	return b.String()
}
