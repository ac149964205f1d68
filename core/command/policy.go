package command

import (
	"sort"
	"strings"

	"github.com/sshgress/sshgress/core/usererr"
)

// GroupByOwner splits inv's flag values by the plugin that owns each flag,
// as the plugins receive them (tunnel.BindRequest.PluginValues). Core flags
// (owner "") are left out; it returns nil when no plugin flag was given.
func (s *Set) GroupByOwner(inv *Invocation) map[string]map[string][]string {
	cmd, _ := s.Lookup(inv.Command)
	owners := map[string]string{}
	for _, fl := range cmd.Flags {
		owners[fl.Name] = fl.Owner
	}
	var out map[string]map[string][]string
	names := make([]string, 0, len(inv.Values))
	for n := range inv.Values {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		owner := owners[n]
		if owner == "" {
			continue
		}
		if out == nil {
			out = map[string]map[string][]string{}
		}
		if out[owner] == nil {
			out[owner] = map[string][]string{}
		}
		out[owner][n] = inv.Values[n]
	}
	return out
}

// CoreValues returns inv's values of the core's own flags (owner ""), as
// the endpoint type receives them (tunnel.BindRequest.CoreValues); nil
// when none was given.
func (s *Set) CoreValues(inv *Invocation) map[string][]string {
	cmd, _ := s.Lookup(inv.Command)
	var out map[string][]string
	for _, fl := range cmd.Flags {
		if v, ok := inv.Values[fl.Name]; ok && fl.Owner == "" {
			if out == nil {
				out = map[string][]string{}
			}
			out[fl.Name] = v
		}
	}
	return out
}

// OneAuthMethod keeps ngrok's rule: one auth method per endpoint. auth
// names the plugins whose manifests say they authenticate visitors, values
// are the flag values by owner (GroupByOwner). Its error is a usererr.
func OneAuthMethod(auth []string, values map[string]map[string][]string) error {
	var flags []string
	for _, p := range auth {
		if len(values[p]) == 0 {
			continue
		}
		names := make([]string, 0, len(values[p]))
		for f := range values[p] {
			names = append(names, "--"+f)
		}
		sort.Strings(names)
		flags = append(flags, names[0])
	}
	if len(flags) > 1 {
		return usererr.Errorf("%s cannot be combined: an endpoint takes one auth method. Pick one", strings.Join(flags, " and "))
	}
	return nil
}
