package sshserver

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sshgress/sshgress/core/command"
	"github.com/sshgress/sshgress/core/route"
)

// liveTunnel is one line of the tunnels command.
type liveTunnel struct {
	url     string
	forward string // "-R 80", "-R app:443"
	session bool
	since   time.Time
}

// owner is whose tunnels this connection's are, as the name registry
// compares claims: the account; for the anonymous account, the key.
func (c *conn) owner() string {
	return route.Claimant{Account: c.acct, Key: c.key}.Owner()
}

// tunnelList is the tunnels command's output for the caller c: every live
// tunnel of the same owner on this edge, its URL and forward, oldest
// connection first. Which tunnels the owner holds comes from the name
// registry (Registry.ByOwner); how each was opened (its -R, session or
// ssh -N, since when) from the connection that holds it.
func (s *Server) tunnelList(caller *conn) string {
	owner := caller.owner()
	var held map[string]bool
	if s.cfg.Names != nil {
		held = make(map[string]bool)
		for _, e := range s.cfg.Names.ByOwner(owner) {
			held[e.Tunnel] = true
		}
	}
	var list []liveTunnel
	for _, c := range s.liveConns() {
		if c == caller || c.owner() != owner {
			continue
		}
		c.mu.Lock()
		for _, f := range c.active {
			if held != nil && !held[f.id] {
				continue
			}
			list = append(list, liveTunnel{url: f.ep.URL(), forward: forwardSpec(f), session: c.sess != nil, since: c.since})
		}
		c.mu.Unlock()
	}
	sort.SliceStable(list, func(i, j int) bool {
		if !list[i].since.Equal(list[j].since) {
			return list[i].since.Before(list[j].since)
		}
		return list[i].url < list[j].url
	})
	whose := "your account " + caller.acct.Name
	if caller.acct.Anonymous {
		whose = "your key " + caller.key
	}
	var b strings.Builder
	if len(list) == 0 {
		fmt.Fprintf(&b, "No live tunnels of %s on this edge.\n", whose)
		fmt.Fprintf(&b, "Open one with: ssh -N -R 80:localhost:LOCALPORT %s, then run %q again.\n", s.cfg.PublicHost, "ssh "+s.cfg.PublicHost+" "+command.Tunnels)
		return b.String()
	}
	fmt.Fprintf(&b, "Live tunnels of %s (%d):\n", whose, len(list))
	width := 0
	for _, t := range list {
		width = max(width, len(t.url))
	}
	for _, t := range list {
		how := "ssh -N"
		if t.session {
			how = "session"
		}
		fmt.Fprintf(&b, "  %-*s  %s  (%s, since %s)\n", width, t.url, t.forward, how, t.since.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	return b.String()
}

// forwardSpec is the -R a forward came from, as the user typed its remote
// side.
func forwardSpec(f *fwd) string {
	port := strconv.FormatUint(uint64(f.BindPort), 10)
	if route.AsksRandom(f.BindAddr) {
		return "-R " + port
	}
	return "-R " + f.BindAddr + ":" + port
}
