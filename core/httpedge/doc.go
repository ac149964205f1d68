// Package httpedge is the HTTP side of the edge: the listeners visitors
// reach (serve.go: HTTP/1 served by the edge's own loop, package h1;
// HTTP/2 by net/http), routing by Host to a tunnel, the visitor-side header hygiene
// (StripVisitorHeaders, SetForwarded), the middleware chain's verdicts and
// loop detection. Each request it lets through goes to the tunnel owner's
// local service through the forwarding engine, package forward (one
// forward.Upstream per tunnel).
//
// Visitors see deliberate status pages (WritePage) with a stable error code,
// never library error text; the engine's own failures get them too
// (WriteFailurePage).
package httpedge
