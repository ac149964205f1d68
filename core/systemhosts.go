package core

import (
	"maps"
	"slices"

	"github.com/sshgress/sshgress/core/route"
	"github.com/sshgress/sshgress/sdk"
)

// systemHosts are the names plugins serve themselves, kept out of reach of
// tunnels (the OAuth plugin's auth host: its callback is the redirect URI
// registered with every provider, so a tunnel holding it could receive
// other users' authorization codes). Two sources, both from the plugins'
// own words, none named here:
//
//   - the ServedHosts each known manifest declares (the bundled plugins',
//     enabled or not, and every enabled plugin's), read from this edge's
//     config: a Label under the base domain always, a Setting's value in
//     plugins.NAME.config when the operator set one. So a host stays
//     reserved whether or not its plugin is enabled, and enabling it later
//     cannot collide with a tunnel. A disabled third-party plugin's
//     manifest is unknown (it never ran), so its hosts are not reserved
//     until it is enabled.
//   - the hosts the enabled plugins answered to Configure.
//
// A value that is not a valid name is skipped here; the plugin itself
// refuses it when enabled.
func (e *Edge) systemHosts(bundled []sdk.Manifest) []string {
	manifests := slices.Concat(bundled, e.plugins.Manifests())
	var hosts []string
	add := func(h string) {
		if n, err := route.Normalize(h); err == nil && !slices.Contains(hosts, n) {
			hosts = append(hosts, n)
		}
	}
	for _, m := range manifests {
		for _, sh := range m.ServedHosts {
			if sh.Label != "" {
				add(sh.Label + "." + e.cfg.Domain)
			}
			if sh.Setting == "" {
				continue
			}
			if v, ok := e.cfg.Plugins[m.Name].Config[sh.Setting].(string); ok && v != "" {
				add(v)
			}
		}
	}
	for _, h := range slices.Sorted(maps.Keys(e.plugins.ServedHosts())) {
		add(h)
	}
	add(e.dashboardHost()) // core/dashboard.go; "" (disabled) is skipped
	add(e.inspectorHost()) // core/inspector.go; likewise
	return hosts
}
