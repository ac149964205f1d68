// Package compress is the http endpoint's --compression: the edge encodes
// a compressible response with gzip or brotli when the visitor asks for
// it (Accept-Encoding), so the bytes never leave the core. The forwarding
// engine (package forward) calls Encode once per final response head and,
// when it returns a Writer, streams the body through it (a pooled encoder)
// and flushes it whenever the upstream pauses, so streamed responses stay
// live. Memory per response is one encoder's state, never the body, and
// at most MaxEncoders responses are encoded at once edge-wide.
//
// The files follow the decision: accept.go (Accept-Encoding with
// q-values, RFC 9110 12.5.3), types.go (the one list of compressible media
// types), decide.go (the skip rules and the header edits: Content-Encoding,
// Vary, a weak ETag, no Content-Length) and writer.go (the pooled
// encoders, their levels and windows).
package compress
