// Command game is an example third-party sshgress endpoint plugin, built on
// the sdk package alone. It provides the "game" command: a local game
// server published at a public TCP port the edge allocates.
//
//	ssh -R 0:localhost:25565 v2@edge game --cidr-allow 203.0.113.0/24
//
// Everything the edge shows about the command (its summary, the remote
// ports it takes, its example) comes from the manifest below; the edge
// refuses other remote ports before calling Bind. Build it, record its
// checksum and name it in the edge's config:
//
//	go build -o /usr/local/lib/sshgress/game ./sdk/examples/game
//	sha256sum /usr/local/lib/sshgress/game
//
//	plugins:
//	  game:
//	    path: /usr/local/lib/sshgress/game
//	    sha256: "<the hex digest sha256sum printed>"
//
// See docs/plugins.md, "Endpoint plugins", for the whole contract.
package main

import (
	"context"

	"github.com/sshgress/sshgress/sdk"
)

const name = "game"

// Ports handed out, inclusive.
const portMin, portMax = 30000, 30099

// plugin implements sdk.EndpointPlugin. It keeps no state: bindings live in
// the edge.
type plugin struct{}

var _ sdk.EndpointPlugin = plugin{}

func (plugin) Manifest() sdk.Manifest {
	return sdk.Manifest{
		Name:    name,
		Version: "1.0.0",
		EndpointTypeSpecs: []sdk.EndpointTypeSpec{{
			Name:        name,
			Summary:     "Publish a local game server at a public port",
			Ports:       "25565 or 0",
			RemotePorts: []uint32{25565, 0},
			Example:     "ssh -R 0:localhost:25565 v2@{host} game",
		}},
		Flags: sdk.ConnectionFlags(name),
	}
}

func (plugin) Configure(_ context.Context, cfg sdk.Config) error { return cfg.NoSettings(name) }

// Bind asks for a port from the plugin's range, with the connection rules
// the user's flags set.
func (plugin) Bind(_ context.Context, req sdk.BindRequest) (sdk.Binding, error) {
	b := sdk.Binding{Kind: sdk.KindTCP, PortMin: portMin, PortMax: portMax}
	if err := sdk.ParseConnectionFlags(req.Values, &b); err != nil {
		return sdk.Binding{}, err
	}
	return b, nil
}

func (plugin) Unbind(context.Context, string) error { return nil }

func main() { sdk.Serve(plugin{}) }
