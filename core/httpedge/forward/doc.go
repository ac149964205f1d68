// Package forward is the HTTP forwarding engine: it carries a visitor's
// request to one tunnel's local service over SSH forwarded-tcpip channels
// (any tunnel.DialFunc) and streams the response back. An Upstream per
// tunnel holds its pool of keep-alive connections; Upstream.Forward is
// the whole request path: the request head and body written as HTTP/1.1,
// informational (1xx) responses relayed, the response streamed with its
// trailers, and a protocol switch (WebSocket) spliced both ways.
//
// The engine is hand-written rather than built on httputil.ReverseProxy
// and http.Transport: the visitor's handler goroutine writes the request
// head to a pooled connection and reads the reply with http.ReadResponse,
// with pooled buffers and no goroutine per request on the common path.
// Opening a channel costs a round trip to the user's machine, so
// connections are kept alive and reused per tunnel, and idle ones beyond a
// few are closed soon after a burst (every open channel costs the user's
// ssh client work).
//
// The files follow the request: upstream.go (the API and Forward),
// pool.go (connections, dialing, the idle sweep), request.go (the request
// head), body.go (the request body's lifecycle), exchange.go (one round
// trip, 1xx responses), response.go (relaying the final response),
// upgrade.go (protocol switches), headers.go (hop-by-hop rules),
// headeredit.go (a tunnel's static header rewrites) and
// failure.go (the requests it answers itself).
//
// Routing, middleware and the visitor-side header hygiene stay in
// core/httpedge, which also renders the pages of requests the engine fails
// itself (Options.ErrorPage, Failure). The engine reaches a tunnel only
// through core/tunnel: it imports neither the SSH server nor the other
// edges (core/layering_test.go).
package forward
