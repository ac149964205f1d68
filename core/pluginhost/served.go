package pluginhost

import (
	"fmt"
	"slices"

	"github.com/sshgress/sshgress/core/route/dnsname"
	"github.com/sshgress/sshgress/sdk"
)

// servedHosts checks and normalises the hosts a plugin said, in its answer
// to Configure, that it serves: only a plugin whose manifest declares
// ServedHosts may answer any (so every served host can be reserved from the
// config before the plugin starts), at most sdk.MaxServedHosts, each a
// valid DNS name. The result is sorted and without duplicates.
func servedHosts(m sdk.Manifest, answered []string) ([]string, error) {
	if len(answered) == 0 {
		return nil, nil
	}
	if len(m.ServedHosts) == 0 {
		return nil, fmt.Errorf("configure: it answered served hosts, but its manifest declares none (ServedHosts)")
	}
	if len(answered) > sdk.MaxServedHosts {
		return nil, fmt.Errorf("configure: it serves %d hosts, at most %d", len(answered), sdk.MaxServedHosts)
	}
	out := make([]string, 0, len(answered))
	for _, h := range answered {
		n, err := dnsname.Normalize(h)
		if err != nil {
			return nil, fmt.Errorf("configure: served host: %w", err)
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// mergeServedHosts checks that no two plugins serve the same host.
func (h *Host) mergeServedHosts() error {
	owner := map[string]string{}
	for _, name := range h.names {
		for _, host := range h.plugins[name].served {
			if other, ok := owner[host]; ok {
				return fmt.Errorf("pluginhost: plugins %q and %q both serve the host %q", other, name, host)
			}
			owner[host] = name
		}
	}
	return nil
}

// ServedHosts returns the hosts the running plugins serve, as each
// answered Configure (normalised), mapped to the plugin's name. A nil Host
// serves none.
func (h *Host) ServedHosts() map[string]string {
	out := map[string]string{}
	if h == nil {
		return out
	}
	for _, name := range h.names {
		for _, host := range h.plugins[name].served {
			out[host] = name
		}
	}
	return out
}
