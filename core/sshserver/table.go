package sshserver

import (
	"sort"
	"time"
)

// TunnelInfo is one live tunnel, as the management API and the dashboard
// list it.
type TunnelInfo struct {
	ID      string
	Account string
	// Type is the connection's command ("http", "tcp", "tls", ...).
	Type string
	URL  string
	// ClientAddr is the address the owner's SSH client connected from.
	ClientAddr string
	Started    time.Time
	// Requests are visitor requests (HTTP) or connections (TCP, TLS);
	// BytesIn went to the user's service, BytesOut came from it.
	Requests, BytesIn, BytesOut int64
}

// Tunnels lists every live tunnel on this edge, oldest first. It takes
// each connection's lock briefly and reads the counters without one.
func (s *Server) Tunnels() []TunnelInfo {
	var out []TunnelInfo
	for _, c := range s.liveConns() {
		client := c.clientAddr()
		c.mu.Lock()
		for _, f := range c.active {
			n := f.stats.Read()
			out = append(out, TunnelInfo{ID: f.id, Account: c.acct.Name, Type: f.cmd, URL: f.ep.URL(),
				ClientAddr: client, Started: f.started,
				Requests: n.Requests, BytesIn: n.BytesIn, BytesOut: n.BytesOut})
		}
		c.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Started.Equal(out[j].Started) {
			return out[i].Started.Before(out[j].Started)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// EndTunnel ends the live tunnel id: its endpoint closes, the owner's
// session reads reason, and a connection left with no tunnel ends. It
// reports whether a tunnel had that id. It never blocks on the client: the
// connection's control loop does the closing.
func (s *Server) EndTunnel(id, reason string) bool {
	for _, c := range s.liveConns() {
		c.mu.Lock()
		var hit *fwd
		for _, f := range c.active {
			if f.id == id {
				hit = f
				break
			}
		}
		c.mu.Unlock()
		if hit != nil {
			c.queueLoss(lostName{f: hit, name: hit.ep.URL(), reason: reason})
			return true
		}
	}
	return false
}

// liveConns is a snapshot of the tracked connections.
func (s *Server) liveConns() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	return conns
}
