package core

import (
	"net/http"
	"strconv"

	"github.com/sshgress/sshgress/core/inspect"
)

// InspectorLabel is the label of the traffic inspector's system host
// under the base domain (inspect.<domain>), reserved so no tunnel can
// claim it.
const InspectorLabel = "inspect"

// inspectorHost is the inspector's system host; "" when the inspector is
// off: limits.inspector_bytes is 0, or the edge has no TLS port (the
// inspector is served over HTTPS only).
func (e *Edge) inspectorHost() string {
	if e.cfg.Limits.InspectorBytes <= 0 || e.httpsLn == nil {
		return ""
	}
	return InspectorLabel + "." + e.cfg.Domain
}

// newInspector returns the inspector's store (nil when it is off) and
// handlers with its host added (handlers is not modified).
func (e *Edge) newInspector(handlers map[string]http.Handler) (*inspect.Store, map[string]http.Handler) {
	host := e.inspectorHost()
	if host == "" {
		return nil, handlers
	}
	base := "https://" + host
	if p := e.httpsPublicPort(); p != 443 {
		base += ":" + strconv.Itoa(p)
	}
	store := inspect.New(inspect.Options{EdgeBytes: e.cfg.Limits.InspectorBytes, BaseURL: base})
	out := make(map[string]http.Handler, len(handlers)+1)
	for h, v := range handlers {
		out[h] = v
	}
	out[host] = store
	return store, out
}

// Inspector returns the edge's traffic inspector (its byte accounting, for
// tests and status); nil when it is off.
func (e *Edge) Inspector() *inspect.Store { return e.inspector }
