// Package wire holds what both sides of the plugin gRPC contract share and
// that needs no sdk type: the go-plugin handshake and the header
// converters. It is internal so plugin authors never see it.
package wire

import (
	"net/http"

	"github.com/hashicorp/go-plugin"

	pluginv1 "github.com/sshgress/sshgress/sdk/proto/plugin/v1"
)

const (
	// ProtocolVersion is the go-plugin protocol version; it moves with the
	// proto package's major version (sshgress.plugin.v1).
	ProtocolVersion = 1
	// MagicCookieKey is the environment variable go-plugin uses to tell a
	// plugin it was started by the edge.
	MagicCookieKey = "SSHGRESS_PLUGIN"
	// MagicCookieValue is the fixed cookie value. It is not a secret: it
	// only stops a plugin binary run by hand from waiting for a handshake.
	MagicCookieValue = "b1d7c0a4-sshgress-plugin-v1"
	// PluginKey is the name under which a plugin is dispensed from the
	// go-plugin plugin map.
	PluginKey = "sshgress"
)

// Handshake returns the go-plugin handshake the edge and every plugin share.
func Handshake() plugin.HandshakeConfig {
	return plugin.HandshakeConfig{
		ProtocolVersion:  ProtocolVersion,
		MagicCookieKey:   MagicCookieKey,
		MagicCookieValue: MagicCookieValue,
	}
}

// HeadersToProto converts h for the wire; an empty h becomes nil.
func HeadersToProto(h http.Header) []*pluginv1.Header {
	if len(h) == 0 {
		return nil
	}
	out := make([]*pluginv1.Header, 0, len(h))
	for name, values := range h {
		out = append(out, &pluginv1.Header{Name: name, Values: values})
	}
	return out
}

// HeadersFromProto converts headers from the wire, canonicalising names;
// none becomes nil.
func HeadersFromProto(hs []*pluginv1.Header) http.Header {
	if len(hs) == 0 {
		return nil
	}
	h := make(http.Header, len(hs))
	for _, ph := range hs {
		name := http.CanonicalHeaderKey(ph.GetName())
		h[name] = append(h[name], ph.GetValues()...)
	}
	return h
}
