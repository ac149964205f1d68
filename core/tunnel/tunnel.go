// Package tunnel is the contract between the SSH side of the edge and its
// public side. The SSH server (core/sshserver) accepts a user's forward and
// hands it to an endpoint type (EndpointType) as a BindRequest whose Forward
// is a Dialer: the only way the public side reaches the user's local
// service. The public side (core/httpedge, core/tcpedge, core/tlsedge, and
// endpoint plugins through core/pluginhost) publishes it and returns an
// Endpoint. Neither side imports the other; both import this package.
//
// It also holds the one set of relay primitives every public side uses to
// move bytes: Conn and DialFunc for the tunnel side of a visitor's
// connection, Splice and Copy, and the pooled copy buffers (Buffer,
// PutBuffer), so HTTP upgrades, TCP endpoints and TLS passthrough copy the
// same way with no allocation per connection.
//
// It is a leaf: it imports nothing of the edge, so a public-side package
// never depends on the SSH server and a new transport (a node-to-node
// relay) can implement Dialer without touching the public side.
package tunnel

import "time"

// DefaultDialTimeout bounds opening a forwarded channel to the user's ssh
// client, for the SSH side (sshserver) and the public side (httpedge's
// upstream pool) alike; config's http.dial_timeout defaults to it.
const DefaultDialTimeout = 10 * time.Second
