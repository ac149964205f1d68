package sshserver

import (
	"github.com/sshgress/sshgress/core/account"
	"github.com/sshgress/sshgress/core/events"
)

// Revoke ends, at once, the live connections whose access ch takes away:
// those of ch.Key (a "SHA256:…" fingerprint) on account ch.Account, or,
// with ch.Key "", every connection of the account. Each session reads
// ch.Reason before the connection closes, and its tunnels close with it.
// It never blocks: the edge calls it from account.Directory.Subscribe.
//
// A connection whose authentication finished just before the change and
// that is tracked just after it is not found here; its account is checked
// again when it is tracked (handle), its key is not.
func (s *Server) Revoke(ch account.Change) {
	s.mu.Lock()
	var hit []*conn
	for c := range s.conns {
		if c.acct.Anonymous || c.acct.Name != ch.Account || ch.Key != "" && c.key != ch.Key {
			continue
		}
		hit = append(hit, c)
	}
	if s.shutdown {
		hit = nil
	}
	for range hit {
		s.wg.Add(1)
	}
	s.mu.Unlock()
	for _, c := range hit {
		c.log.Info("ssh connection ended: its access was removed", "key", ch.Key)
		go func() {
			defer s.wg.Done()
			c.ending(events.ReasonRevoked)
			c.goodbye(ch.Reason)
		}()
	}
}
