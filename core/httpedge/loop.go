package httpedge

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"
)

// Loop detection: a tunnel whose ssh -R points back at the edge's own HTTP
// port would turn one visitor request into a chain of nested requests,
// each holding a channel, until a limit stops it. Every request the edge
// forwards carries the edge's loop ID in CDN-Loop (RFC 8586, which exists
// for exactly this); a request that arrives already carrying it came back
// and is answered with 508 instead of being forwarded again. CDN-Loop
// values from other proxies in front of the edge are kept, as RFC 8586
// asks.

// newLoopID returns a random pseudonym for one edge ("sshgress-" and 16
// hex digits). It is not a secret: a visitor who learns and sends it only
// gets its own request refused.
func newLoopID() string {
	var b [8]byte
	rand.Read(b[:])
	return "sshgress-" + hex.EncodeToString(b[:])
}

// hasLoopID reports whether the CDN-Loop header values in h name id: a
// comma-separated list of cdn-id [; parameters] entries.
func hasLoopID(h http.Header, id string) bool {
	for _, v := range h["Cdn-Loop"] {
		for v != "" {
			var entry string
			entry, v, _ = strings.Cut(v, ",")
			entry, _, _ = strings.Cut(entry, ";")
			if strings.TrimSpace(entry) == id {
				return true
			}
		}
	}
	return false
}

// addLoopID appends the ID in only (a one-element slice that is shared
// and never modified) to h's CDN-Loop header. Without a CDN-Loop from the
// visitor, the common case, only itself is stored: no allocation per
// request.
func addLoopID(h http.Header, only []string) {
	if v := h["Cdn-Loop"]; len(v) > 0 {
		h["Cdn-Loop"] = append(v[:len(v):len(v)], only[0])
		return
	}
	h["Cdn-Loop"] = only
}
