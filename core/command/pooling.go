package command

import "github.com/sshgress/sshgress/sdk"

// Pooling is the name of the core's --pooling-enabled flag (ngrok's
// name), offered on every endpoint command: the tunnels of one account
// that bind the same public name with it share that name, and the edge
// spreads visitors over them (tunnel.BindRequest.Pool, route.Claim.Pool).
const Pooling = "pooling-enabled"

// PoolingFlag is the core's --pooling-enabled flag, for Command.Flags.
func PoolingFlag() Flag {
	return Flag{FlagSpec: sdk.FlagSpec{
		Name: Pooling,
		Type: sdk.FlagBool,
		Help: "Share the name with your other tunnels opened with this flag and the same flags; visitors are spread over them",
	}}
}

// Pooled reports whether inv asks for a pooled endpoint (--pooling-enabled).
func (inv *Invocation) Pooled() bool {
	v := inv.Values[Pooling]
	return len(v) > 0 && v[len(v)-1] == "true"
}
