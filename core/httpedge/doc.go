// Package httpedge is the HTTP side of the edge: the listener visitors
// reach, routing by Host to a tunnel, and the forwarding engine that carries
// each request to the tunnel owner's local service over SSH
// forwarded-tcpip channels.
//
// The forwarding engine (Upstream) is hand-written rather than built on
// httputil.ReverseProxy and http.Transport: the visitor's handler goroutine
// writes the request head to a pooled keep-alive connection and reads the
// reply with http.ReadResponse, with pooled buffers and no goroutine per
// request on the common path. Opening a channel costs a round trip to the
// user's machine, so connections are kept alive and reused per tunnel.
//
// Visitors see deliberate status pages (WritePage) with a stable error code,
// never library error text.
package httpedge
