package compress

import (
	"io"
	"net/http"
	"strings"
)

// MinSize is the smallest body, in bytes, the edge compresses when the
// upstream announced its length (Content-Length): below it the coding's
// framing and the visitor's decoding cost more than they save. A body of
// unknown length (chunked) is compressed whatever its size.
const MinSize = 1024

// Encode starts encoding one final response to r into dst, the visitor's
// writer, when decide picks a coding for it and an encoder is free (at
// most MaxEncoders edge-wide; beyond, the response goes plain). It
// returns nil for a response sent as is. decide states the rules and the
// header edits.
func Encode(r *http.Request, status int, length int64, h http.Header, dst io.Writer) *Writer {
	c := choose(r, status, length, h)
	if c == Identity || !acquire() {
		return nil
	}
	prepare(h, c)
	return newWriter(c, dst)
}

// decide picks the coding of one final response to r, with status and
// upstream header h (after the tunnel's response edits) and body length
// (-1 when unknown), and edits h for it. It returns Identity, and leaves
// h alone, for a response that must or need not be compressed: not 2xx,
// 204, 206, a HEAD, a request with Range, a Content-Encoding or
// Content-Range already there, Cache-Control: no-transform, a type that is
// not Compressible, or a body known to be shorter than MinSize.
//
// Otherwise h gets "Vary: Accept-Encoding" (added, not replacing the
// upstream's Vary), so caches keep the coded and the plain variants
// apart even when this visitor gets the plain one; and when the visitor
// accepts a coding (Negotiate), h gets Content-Encoding, its strong ETag
// made weak (the bytes differ, the meaning does not), and no
// Content-Length, Accept-Ranges or Content-Digest: they described the
// plain bytes.
func decide(r *http.Request, status int, length int64, h http.Header) Coding {
	c := choose(r, status, length, h)
	if c != Identity {
		prepare(h, c)
	}
	return c
}

// choose is decide without the edits for the coding (Vary is added).
func choose(r *http.Request, status int, length int64, h http.Header) Coding {
	if status < 200 || status > 299 || status == http.StatusNoContent || status == http.StatusPartialContent ||
		r.Method == http.MethodHead || length == 0 || (length > 0 && length < MinSize) {
		return Identity
	}
	if len(r.Header["Range"]) > 0 || len(h["Content-Encoding"]) > 0 || len(h["Content-Range"]) > 0 ||
		noTransform(h["Cache-Control"]) || !Compressible(h.Get("Content-Type")) {
		return Identity
	}
	addVary(h)
	return Negotiate(r.Header["Accept-Encoding"])
}

// prepare edits h for a body encoded with c.
func prepare(h http.Header, c Coding) {
	h["Content-Encoding"] = []string{string(c)}
	delete(h, "Content-Length")
	delete(h, "Accept-Ranges")
	delete(h, "Content-Digest")
	if et := h.Get("Etag"); et != "" && !strings.HasPrefix(et, "W/") {
		h.Set("Etag", "W/"+et)
	}
}

// noTransform reports whether Cache-Control values cc hold the
// no-transform directive (RFC 9111 5.2.2.6): no proxy may change the
// coding then.
func noTransform(cc []string) bool {
	for _, v := range cc {
		for v != "" {
			var d string
			d, v, _ = strings.Cut(v, ",")
			d, _, _ = strings.Cut(d, "=")
			if strings.EqualFold(strings.TrimSpace(d), "no-transform") {
				return true
			}
		}
	}
	return false
}

// addVary adds Accept-Encoding to h's Vary unless Vary names it or "*"
// already. Existing value slices are not written in place (h may share
// them with the upstream's header map).
func addVary(h http.Header) {
	for _, v := range h["Vary"] {
		for v != "" {
			var tok string
			tok, v, _ = strings.Cut(v, ",")
			tok = strings.TrimSpace(tok)
			if tok == "*" || strings.EqualFold(tok, "Accept-Encoding") {
				return
			}
		}
	}
	old := h["Vary"]
	h["Vary"] = append(old[:len(old):len(old)], "Accept-Encoding")
}
