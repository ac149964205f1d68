package sshserver

import (
	"context"

	"github.com/sshgress/sshgress/core/account"
	"github.com/sshgress/sshgress/core/command"
	"github.com/sshgress/sshgress/core/console"
	"github.com/sshgress/sshgress/core/route"
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
	// Account owns the tunnel.
	Account *account.Account
	// Invocation is the parsed command line.
	Invocation *command.Invocation
	// PluginValues holds the given flags' values grouped by owning plugin.
	PluginValues map[string]map[string][]string
	// Forward opens channels to the user's local service.
	Forward *Forward
	// Console is the owner's session output; nil for `ssh -N`.
	Console *console.Console
	// Key is the SHA256 fingerprint of the key the connection
	// authenticated with; it tells anonymous users apart.
	Key string
	// Stable is n ≥ 1 for the nth forward without a remote name of an
	// `ssh -N` connection, which gets a stable name (route.Claimant); 0
	// otherwise.
	Stable int
}

// Claimant is who claims the public name of this forward (route.Bind).
func (r *BindRequest) Claimant() route.Claimant {
	return route.Claimant{Account: r.Account, Key: r.Key, Stable: r.Stable}
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
