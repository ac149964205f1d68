package tunnel

import (
	"context"
	"errors"
	"net/netip"
	"time"
)

// EndpointType serves the public side of one command ("http", "tcp", ...).
// The core's HTTP edge implements it; endpoint-type plugins do through the
// plugin host.
type EndpointType interface {
	// Bind publishes one accepted forward. A returned error is shown to the
	// user (usererr text) and the forward is refused.
	Bind(ctx context.Context, req *BindRequest) (Endpoint, error)
}

// BindRequest is everything an endpoint type needs to publish a forward.
type BindRequest struct {
	// TunnelID identifies the tunnel in logs and plugin calls.
	TunnelID string
	// Owner is who opened the tunnel.
	Owner Owner
	// Command is the endpoint type the user asked for ("http", "tcp", ...).
	Command string
	// PluginValues holds the given flags' values grouped by owning plugin.
	PluginValues map[string]map[string][]string
	// CoreValues holds the values of the core's own flags that were given
	// (http's --inspect, --verbose and --compression), by name; nil when none was.
	CoreValues map[string][]string
	// RemoteName is the bind address the client sent ("localhost", "",
	// "app.example.org"): the public name asked for, if any.
	RemoteName string
	// RemotePort is the port the client sent (0 = allocate).
	RemotePort uint32
	// Pool is set by --pooling-enabled: the endpoint joins the pool of the
	// owner's tunnels that bind the same public name with it
	// (route.Claim.Pool) instead of taking the name over.
	Pool bool
	// Forward opens channels to the user's local service. Required.
	Forward Dialer
	// Console is the owner's session output. Never nil; for `ssh -N` it
	// discards what it is given.
	Console Console
	// NoSession is set for `ssh -N` (no session): no banner or line
	// reaches the owner, so nothing meant only for their eyes (the
	// inspector's link) is made.
	NoSession bool
}

// Owner is who opened a tunnel: the account of the SSH connection and the
// key it authenticated with.
type Owner struct {
	// Account is the account's name.
	Account string
	// Anonymous is set for the shared anonymous local account, whose users
	// are told apart by Key alone.
	Anonymous bool
	// Domains are the names the account reserved (custom domains and
	// labels).
	Domains []string
	// TCPAddresses are the host:port addresses the account reserved.
	TCPAddresses []string
	// Key is the SHA256 fingerprint ("SHA256:…") of the key the connection
	// authenticated with.
	Key string
	// Stable is n ≥ 1 for the nth forward without a remote name of an
	// `ssh -N` connection, which gets a stable name (route.Claimant); 0
	// otherwise.
	Stable int
}

// Dialer is the SSH side of one forward, as the public side uses it. The
// SSH server's forward implements it.
type Dialer interface {
	// Dial opens a channel to the user's local service for a visitor,
	// bounded by ctx and the server's dial timeout. It returns
	// ErrChannelLimit when a channel cap is reached.
	Dial(ctx context.Context, visitor netip.AddrPort) (Conn, error)
	// SetPublicPort records the port a port-0 forward was given. An
	// endpoint type calls it before its endpoint can receive visitors:
	// OpenSSH matches every forwarded-tcpip channel on that port. For a
	// forward with an explicit port it does nothing.
	SetPublicPort(port uint32)
	// ClientAddr is the address the tunnel owner's SSH client connected
	// from (zero if unknown). A forwarding loop's connections come back
	// from it.
	ClientAddr() netip.Addr
	// TakenOver tells the forward's connection that a newer connection of
	// the same owner claimed name, this forward's public name: the
	// endpoint type calls it once the route has moved, and closes the old
	// endpoint itself (it may do so in the background: closing channels
	// writes to a client that may have stopped reading, and the
	// connection ending unblocks that). The connection tells its user
	// and, once none of its forwards is left, ends. It does not block, so
	// the newer connection's bind never waits for a stale client.
	TakenOver(name string)
	// Stats are the tunnel's counters: the SSH side counts the bytes of
	// every channel; the endpoint type counts requests (Stats.Request) as
	// it serves them. May be nil (counts nothing).
	Stats() *Stats
}

// Console is the tunnel owner's session output.
type Console interface {
	// Line prints one line.
	Line(s string)
	// Request prints the line of one HTTP request.
	Request(method, path string, status int, d time.Duration, client netip.Addr)
}

// Inspected is an Endpoint whose traffic its owner can inspect (an http
// endpoint with --inspect): InspectURL is the private link for the banner.
type Inspected interface {
	InspectURL() string
}

// Endpoint is a published forward.
type Endpoint interface {
	// URL is the public address shown in the banner.
	URL() string
	// Port is the port reported to the client for a port-0 forward. Bind
	// must also have called Forward.SetPublicPort with it before the
	// endpoint could receive a visitor.
	Port() uint32
	// Protection describes what guards the endpoint, for the banner.
	Protection() []string
	// Close unpublishes the endpoint at once. Idempotent.
	Close()
}

// PoolMember is implemented by an Endpoint that joined a pool
// (BindRequest.Pool): several tunnels of one owner serving one public name.
type PoolMember interface {
	// PoolSize is how many tunnels served the name, this one included,
	// when it was bound; the banner shows it.
	PoolSize() int
}

// ErrChannelLimit is returned by Dialer.Dial when a channel cap is
// reached; the HTTP edge answers 503 with Retry-After.
var ErrChannelLimit = errors.New("tunnel: too many connections through this tunnel at once")
