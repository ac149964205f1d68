package sshserver

import (
	"context"
	"strings"
	"time"
)

// accountCommand runs `login` and `register` for a registered key; ok is
// false for any other command.
func (c *conn) accountCommand(cmdline string) (out string, status uint32, ok bool) {
	f := strings.Fields(cmdline)
	if len(f) == 0 || c.acct.Anonymous {
		return "", 0, false
	}
	switch f[0] {
	case "login":
		if c.srv.cfg.LoginLink == nil {
			return "Error: this edge has no dashboard, so there is nothing to sign in to.\n", 1, true
		}
		ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
		defer cancel()
		link, err := c.srv.cfg.LoginLink(ctx, c.acct.Name)
		if err != nil {
			c.log.Info("login link refused", "err", err)
			return "Error: the edge could not make a sign-in link; try again, and tell the operator if it persists (ref " + c.id + ")\n", 1, true
		}
		c.log.Info("login link issued")
		return "Open this one-time link to sign in to the dashboard as " + c.acct.Name + " (it works once, and soon expires):\n" + link + "\n", 0, true
	case "register":
		return "Error: this key is already registered: it is a key of account " + c.acct.Name + ".\n", 1, true
	}
	return "", 0, false
}
