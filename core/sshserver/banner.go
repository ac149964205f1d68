package sshserver

import (
	"fmt"

	"github.com/sshgress/sshgress/core/tunnel"
)

func (c *conn) banner(fs []*fwd) []string {
	lines := []string{"sshgress (Ctrl+C to quit)"}
	if !c.acct.Anonymous {
		lines = append(lines, "Account     "+c.acct.Name)
	}
	for _, f := range fs {
		lines = append(lines, c.forwardLines(f)...)
	}
	return lines
}

func (c *conn) forwardLines(f *fwd) []string {
	lines := []string{"Forwarding  " + f.ep.URL() + " -> the local target of your " + forwardSpec(f)}
	if n := poolSize(f.ep); n > 0 {
		lines = append(lines, fmt.Sprintf("Pooled      pool of %d (your tunnels with --pooling-enabled share this name; visitors are spread over them)", n))
	}
	if u := inspectURL(f.ep); u != "" {
		lines = append(lines, "Inspect     "+u)
	}
	prot := f.ep.Protection()
	if len(prot) == 0 {
		lines = append(lines, "Protected   no (anyone with the URL can reach it)")
	}
	for _, p := range prot {
		lines = append(lines, "Protected   "+p)
	}
	return lines
}

// poolSize is the size of the pool ep joined at bind, 0 for an endpoint
// that is no pool member.
func poolSize(ep tunnel.Endpoint) int {
	if c, ok := ep.(*countedEndpoint); ok {
		ep = c.Endpoint
	}
	if p, ok := ep.(tunnel.PoolMember); ok {
		return p.PoolSize()
	}
	return 0
}

// inspectURL is the private inspector link of an endpoint that has one.
func inspectURL(ep tunnel.Endpoint) string {
	if c, ok := ep.(*countedEndpoint); ok {
		ep = c.Endpoint
	}
	if i, ok := ep.(tunnel.Inspected); ok {
		return i.InspectURL()
	}
	return ""
}
