package core

import (
	"github.com/sshgress/sshgress/core/config"
	"github.com/sshgress/sshgress/core/route"
)

// systemHosts are the names the edge serves itself, kept out of reach of
// tunnels: the OAuth plugin's auth host (its callback is the redirect URI
// registered with every provider, so a tunnel holding it could receive
// other users' authorization codes). It is reserved whether or not the
// plugin is enabled, so enabling it later cannot collide with a tunnel.
func systemHosts(cfg *config.Config) []string {
	hosts := []string{"auth." + cfg.Domain}
	if p, ok := cfg.Plugins["oauth"]; ok {
		if h, ok := p.Config["auth_host"].(string); ok {
			if n, err := route.Normalize(h); err == nil {
				hosts = append(hosts, n)
			}
		}
	}
	return hosts
}

// isAuthHost reports whether name is the auth host of an enabled OAuth
// plugin (it may then get an ACME certificate like a reserved name).
func (e *Edge) isAuthHost(name string) bool {
	if p, ok := e.cfg.Plugins["oauth"]; !ok || !p.IsEnabled() {
		return false
	}
	for _, h := range systemHosts(e.cfg) {
		if h == name {
			return true
		}
	}
	return false
}
