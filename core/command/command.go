// Package command turns what an SSH client sends — the user name and the
// exec string — into an endpoint type and its flag values, and writes the
// --help text the SSH user reads in their terminal.
//
// The syntax follows ngrok's SSH agent:
//
//	ssh -R [name:]port:localhost:LOCALPORT [v2@]HOST COMMAND [flags]
//
// where the SSH user name versions the syntax and COMMAND is an endpoint type
// (http, tcp, tls, ...). The flags a command accepts are declared by the
// plugins enabled on the server (sdk.FlagSpec); a Set indexes them once at
// start-up and then parses every session's command line against them.
//
// Every error Parse returns is a usererr: one sentence fit to print in the
// user's terminal, which never contains the value of a sensitive flag.
package command

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/sshgress/sshgress/sdk"
)

// Latest is the newest command-syntax version ("v2"). It is also the SSH
// user name that selects it.
const Latest = "v2"

// Tunnels is the built-in command that lists the caller's live tunnels
// (Invocation.List). Like "help" it is no endpoint type, and no plugin may
// name a command so.
const Tunnels = "tunnels"

// Flag is a flag offered on this server, with the plugin that owns it
// ("" = built into the core).
type Flag struct {
	sdk.FlagSpec
	// Owner is the name of the plugin that declared the flag; "" means the
	// core itself.
	Owner string
	// Short is a one-letter alias typed with one dash ("v" for -v), for
	// core flags only (plugins' flags have long names alone); "" for none.
	Short string
}

// Command is one endpoint type (http, tcp, tls, ...) and the flags it accepts
// on this server.
type Command struct {
	// Name is the word the user types, e.g. "http". Lowercase letters,
	// digits and dashes; "help" and Tunnels are reserved.
	Name string
	// Summary is one line for the command list, e.g. "Expose a local HTTP
	// service at a public URL".
	Summary string
	// Ports is the remote-port rule for the help text, e.g. "80, 443 or 0".
	// Empty leaves the line out.
	Ports string
	// Example is a complete command line for the help text, e.g.
	// "ssh -R 443:localhost:3000 v2@{host} http"; {host} is replaced by
	// Options.Host. Empty leaves the example out.
	Example string
	// Flags are the flags this command accepts. Each flag's Commands must
	// include Name (or be empty, meaning every command).
	Flags []Flag
}

// Options configures a Set. The zero value is valid.
type Options struct {
	// Host is the edge's public SSH destination as users type it, for
	// examples and usage lines, e.g. "localhost -p 2222" or
	// "tunnel.example.com". Empty shows the placeholder "HOST".
	Host string
	// Disabled maps a command this server knows of but has not enabled to
	// the plugin that would provide it, e.g. "tcp": "tcp". Using it gets an
	// error saying it is not enabled, rather than "unknown command".
	Disabled map[string]string
	// DisabledFlags maps a flag name (without dashes) to the plugin that
	// would provide it, for plugins known but not enabled, e.g.
	// "basic-auth": "basicauth". Using it gets an error naming the plugin.
	DisabledFlags map[string]string
	// DisabledCommandFlags maps a command to the flags of plugins known but
	// not enabled that would apply to it, and each to its plugin, e.g.
	// "http": {"cidr-allow": "ipfilter"} (UnavailableFlags). It is what lets
	// one flag name belong to different plugins for different commands:
	// --cidr-allow on http, with its plugin off, names that plugin even
	// while tcp offers a --cidr-allow of its own.
	DisabledCommandFlags map[string]map[string]string
	// MaxExecBytes is the longest exec string accepted, in bytes.
	// 0 means the package's MaxExecBytes (4096).
	MaxExecBytes int
	// Domain is the base domain label names go under, e.g. "localhost",
	// for the help's example of a name. Empty says "this server's domain".
	Domain string
}

// Set is the commands and flags this server offers, plus what it knows of
// but has disabled. It is immutable after NewSet and safe for concurrent use.
type Set struct {
	host          string
	domain        string
	maxExec       int
	byName        map[string]*entry
	names         []string          // enabled command names, sorted
	disabled      map[string]string // command -> plugin, only names not enabled
	disabledFlags map[string]string // flag -> plugin, only names offered nowhere
	// disabledCmdFlags: command -> flag -> plugin, only flags the command
	// does not offer.
	disabledCmdFlags map[string]map[string]string
	flagCommands     map[string][]string // flag -> sorted commands offering it
}

// entry is one enabled command with its flags indexed by name.
type entry struct {
	cmd        Command // Flags sorted by name, owned by the Set
	flags      map[string]Flag
	shortFlags map[string]string // Flag.Short -> Flag.Name
}

// NewSet validates and indexes the commands. It fails on an invalid or
// duplicate command name, an invalid or reserved flag name, a flag listed
// under a command it does not apply to, an unknown flag type, or a flag name
// declared twice within one command (the message names both owners).
func NewSet(opts Options, cmds ...Command) (*Set, error) {
	s := &Set{
		host:          opts.Host,
		domain:        opts.Domain,
		maxExec:       opts.MaxExecBytes,
		byName:        make(map[string]*entry, len(cmds)),
		disabled:      make(map[string]string),
		disabledFlags: make(map[string]string),
		flagCommands:  make(map[string][]string),
	}
	if s.maxExec <= 0 {
		s.maxExec = MaxExecBytes
	}
	if strings.TrimSpace(s.host) == "" {
		s.host = "HOST"
	}
	for _, c := range cmds {
		if !validName(c.Name) {
			return nil, fmt.Errorf("command: invalid command name %q: use lowercase letters, digits and dashes, starting with a letter or digit", c.Name)
		}
		if c.Name == "help" || c.Name == Tunnels {
			return nil, fmt.Errorf("command: %q is reserved and cannot name a command", c.Name)
		}
		if _, dup := s.byName[c.Name]; dup {
			return nil, fmt.Errorf("command: command %q is declared twice", c.Name)
		}
		e := &entry{cmd: c, flags: make(map[string]Flag, len(c.Flags))}
		e.cmd.Flags = slices.Clone(c.Flags)
		for i, f := range e.cmd.Flags {
			if err := checkFlag(c.Name, f); err != nil {
				return nil, err
			}
			if prev, dup := e.flags[f.Name]; dup {
				return nil, fmt.Errorf("command: %s: %s", c.Name, claimedTwice(f.Name, prev.Owner, f.Owner))
			}
			f.Commands = slices.Clone(f.Commands)
			if f.Short != "" {
				if err := checkShort(c.Name, f, e.shortFlags); err != nil {
					return nil, err
				}
				if e.shortFlags == nil {
					e.shortFlags = map[string]string{}
				}
				e.shortFlags[f.Short] = f.Name
			}
			e.cmd.Flags[i] = f
			e.flags[f.Name] = f
			s.flagCommands[f.Name] = append(s.flagCommands[f.Name], c.Name)
		}
		slices.SortFunc(e.cmd.Flags, func(a, b Flag) int { return strings.Compare(a.Name, b.Name) })
		s.byName[c.Name] = e
		s.names = append(s.names, c.Name)
	}
	slices.Sort(s.names)
	for _, cs := range s.flagCommands {
		slices.Sort(cs)
	}
	// What is enabled wins over what the options call disabled: a config may
	// list every known plugin while enabling some of them.
	for name, plugin := range opts.Disabled {
		if _, on := s.byName[name]; !on {
			s.disabled[name] = plugin
		}
	}
	for name, plugin := range opts.DisabledFlags {
		if _, on := s.flagCommands[name]; !on {
			s.disabledFlags[name] = plugin
		}
	}
	for cmd, flags := range opts.DisabledCommandFlags {
		for name, plugin := range flags {
			if e, on := s.byName[cmd]; on {
				if _, offered := e.flags[name]; offered {
					continue
				}
			}
			if s.disabledCmdFlags == nil {
				s.disabledCmdFlags = map[string]map[string]string{}
			}
			if s.disabledCmdFlags[cmd] == nil {
				s.disabledCmdFlags[cmd] = map[string]string{}
			}
			s.disabledCmdFlags[cmd][name] = plugin
		}
	}
	return s, nil
}

// checkFlag validates one flag declared under command cmd.
func checkFlag(cmd string, f Flag) error {
	if !validName(f.Name) {
		return fmt.Errorf("command: %s: flag %q of %s is not a valid name: use lowercase letters, digits and dashes, starting with a letter or digit", cmd, f.Name, ownerName(f.Owner))
	}
	if f.Name == "help" || f.Name == "h" {
		return fmt.Errorf("command: %s: flag --%s of %s is reserved for help", cmd, f.Name, ownerName(f.Owner))
	}
	if !f.AppliesTo(cmd) {
		return fmt.Errorf("command: %s: flag --%s of %s applies only to %s, so it cannot be offered for %s", cmd, f.Name, ownerName(f.Owner), joinAnd(f.Commands), cmd)
	}
	switch f.Type {
	case sdk.FlagString, sdk.FlagBool, sdk.FlagInt:
	default:
		return fmt.Errorf("command: %s: flag --%s of %s has unknown type %d", cmd, f.Name, ownerName(f.Owner), int(f.Type))
	}
	return nil
}

// claimedTwice describes a flag name declared twice within one command.
func claimedTwice(name, a, b string) string {
	switch {
	case a == b && a == "":
		return fmt.Sprintf("flag --%s is declared twice by the core", name)
	case a == b:
		return fmt.Sprintf("flag --%s is declared twice by plugin %q", name, a)
	case a == "":
		return fmt.Sprintf("flag --%s is claimed by the core and plugin %q", name, b)
	case b == "":
		return fmt.Sprintf("flag --%s is claimed by the core and plugin %q", name, a)
	}
	return fmt.Sprintf("flag --%s is claimed by plugins %q and %q", name, a, b)
}

// checkShort validates a flag's one-letter alias: a core switch's only,
// one lowercase letter, not h (help), once per command.
func checkShort(cmd string, f Flag, taken map[string]string) error {
	switch {
	case f.Owner != "":
		return fmt.Errorf("command: %s: flag --%s of plugin %q has a short alias; only core flags may", cmd, f.Name, f.Owner)
	case f.Type != sdk.FlagBool:
		return fmt.Errorf("command: %s: flag --%s has a short alias but is not a switch", cmd, f.Name)
	case len(f.Short) != 1 || f.Short[0] < 'a' || f.Short[0] > 'z' || f.Short == "h":
		return fmt.Errorf("command: %s: flag --%s: short alias %q must be one lowercase letter other than h", cmd, f.Name, f.Short)
	case taken[f.Short] != "":
		return fmt.Errorf("command: %s: short alias -%s is declared by --%s and --%s", cmd, f.Short, taken[f.Short], f.Name)
	}
	return nil
}

func ownerName(owner string) string {
	if owner == "" {
		return "the core"
	}
	return fmt.Sprintf("plugin %q", owner)
}

// validName reports whether s matches [a-z0-9][a-z0-9-]*.
func validName(s string) bool {
	if s == "" || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// MaxExecBytes is the longest exec string Parse accepts, in bytes.
func (s *Set) MaxExecBytes() int { return s.maxExec }

// Commands returns the enabled commands sorted by name. The result is a
// copy; changing it does not change the Set.
func (s *Set) Commands() []Command {
	out := make([]Command, 0, len(s.names))
	for _, n := range s.names {
		out = append(out, s.byName[n].copyCommand())
	}
	return out
}

// Lookup returns the enabled command with exactly this name, flags sorted
// by name. Disabled commands are not found.
func (s *Set) Lookup(name string) (Command, bool) {
	e, ok := s.byName[name]
	if !ok {
		return Command{}, false
	}
	return e.copyCommand(), true
}

func (e *entry) copyCommand() Command {
	c := e.cmd
	c.Flags = slices.Clone(c.Flags)
	for i := range c.Flags {
		c.Flags[i].Commands = slices.Clone(c.Flags[i].Commands)
	}
	return c
}

// Owners returns the names of the plugins owning at least one flag given in
// inv, sorted and without duplicates, excluding the core (""). These are the
// plugins that join the tunnel's chain. It returns nil for a nil inv or an
// unknown command.
func (s *Set) Owners(inv *Invocation) []string {
	if inv == nil {
		return nil
	}
	e, ok := s.byName[inv.Command]
	if !ok {
		return nil
	}
	seen := make(map[string]bool)
	for name := range inv.Values {
		if f, ok := e.flags[name]; ok && f.Owner != "" {
			seen[f.Owner] = true
		}
	}
	if len(seen) == 0 {
		return nil
	}
	return slices.Sorted(maps.Keys(seen))
}

// redacted replaces each sensitive value in Redacted.
const redacted = "REDACTED"

// Redacted returns a copy of values fit for logs: each value of a Sensitive
// flag of command is replaced by "REDACTED". It fails closed: values of a
// flag the command does not offer are redacted too. A nil map gives nil.
func (s *Set) Redacted(command string, values map[string][]string) map[string][]string {
	if values == nil {
		return nil
	}
	var flags map[string]Flag
	if e, ok := s.byName[command]; ok {
		flags = e.flags
	}
	out := make(map[string][]string, len(values))
	for name, vs := range values {
		f, known := flags[name]
		if known && !f.Sensitive {
			out[name] = slices.Clone(vs)
			continue
		}
		r := make([]string, len(vs))
		for i := range r {
			r[i] = redacted
		}
		out[name] = r
	}
	return out
}

// joinAnd joins words as "a", "a and b", "a, b and c".
func joinAnd(words []string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}
