package command

import "github.com/sshgress/sshgress/sdk"

// EndpointCommand is the command for an endpoint type a plugin provides,
// as the plugin's manifest describes it: the core names no plugin's
// command itself. A type without a summary gets a line naming its plugin.
func EndpointCommand(spec sdk.EndpointTypeSpec, plugin string) Command {
	c := Command{Name: spec.Name, Summary: spec.Summary, Ports: spec.Ports, Example: spec.Example}
	if c.Summary == "" {
		c.Summary = "Endpoint type provided by the " + plugin + " plugin"
	}
	return c
}

// Unavailable maps what the given plugins (known to the server but not
// enabled) would provide to the plugin: their endpoint types, for
// Options.Disabled, and their flags, for Options.DisabledFlags. Using one
// then gets an error naming the plugin instead of "unknown".
func Unavailable(off []sdk.Manifest) (commands, flags map[string]string) {
	commands, flags = map[string]string{}, map[string]string{}
	for _, m := range off {
		for _, e := range m.Endpoints() {
			commands[e.Name] = m.Name
		}
		for _, f := range m.Flags {
			flags[f.Name] = m.Name
		}
	}
	return commands, flags
}

// UnavailableFlags maps each command to the flags the given plugins (known
// to the server but not enabled) declare for it by name
// (FlagSpec.Commands), and each flag to its plugin, for
// Options.DisabledCommandFlags. Flags for every command (no Commands) are
// left to Unavailable.
func UnavailableFlags(off []sdk.Manifest) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, m := range off {
		for _, f := range m.Flags {
			for _, cmd := range f.Commands {
				if out[cmd] == nil {
					out[cmd] = map[string]string{}
				}
				out[cmd][f.Name] = m.Name
			}
		}
	}
	return out
}
