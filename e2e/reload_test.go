package e2e_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/config"
	"github.com/sshgress/sshgress/e2e"
)

// TestReloadAccounts: a key added to the config and reloaded opens a tunnel
// without a restart while an existing tunnel keeps serving; removing it
// ends its session; a broken config changes nothing and the log says why.
func TestReloadAccounts(t *testing.T) {
	_, port := backend(t)
	dir := t.TempDir()
	ann, bob := e2e.NewKey(t, dir, "ann"), e2e.NewKey(t, dir, "bob")
	edge := newEdge(t, func(c *config.Config) {
		c.Accounts = []config.Account{{Name: "ann", Keys: []string{ann.AuthorizedKey}}}
	})
	annS := edge.RunSSH(t, ann, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http")
	annURL := annS.URL(t)

	with := func(accts ...config.Account) *config.Config {
		c := *edge.Cfg
		c.Accounts = accts
		return &c
	}
	annAcct := config.Account{Name: "ann", Keys: []string{ann.AuthorizedKey}}
	if err := edge.Reload(with(annAcct, config.Account{Name: "bob", Keys: []string{bob.AuthorizedKey}})); err != nil {
		t.Fatalf("Reload adding bob: %v", err)
	}
	bobS := edge.RunSSH(t, bob, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http")
	if st, _ := edge.Get(t, bobS.URL(t)); st != 200 {
		t.Errorf("bob's tunnel after the reload: %d", st)
	}
	if st, _ := edge.Get(t, annURL); st != 200 {
		t.Errorf("ann's tunnel from before the reload: %d", st)
	}

	// A broken file: nothing changes.
	err := edge.Reload(with(annAcct, config.Account{Name: "bob", Keys: []string{"ssh-ed25519 not-a-key"}}))
	if err == nil {
		t.Fatalf("Reload took a broken key line")
	}
	if !strings.Contains(edge.Logs.String(), "config reload rejected") {
		t.Errorf("the edge does not log the rejected reload")
	}
	select {
	case <-bobS.Done():
		t.Fatalf("a rejected reload ended bob's session:\n%s", bobS.Stderr)
	case <-time.After(500 * time.Millisecond):
	}

	// Removing bob ends his session, which says why.
	if err := edge.Reload(with(annAcct)); err != nil {
		t.Fatalf("Reload removing bob: %v", err)
	}
	if code := bobS.Wait(5 * time.Second); code == -1 {
		t.Fatalf("bob's session still runs 5s after his account was removed")
	}
	if !strings.Contains(bobS.Stderr.String(), "bob") {
		t.Errorf("bob's session does not say why it ended:\n%s", bobS.Stderr)
	}
	if st, _ := edge.Get(t, annURL); st != 200 {
		t.Errorf("ann's tunnel after bob's removal: %d", st)
	}
}
