package e2e_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core"
	"github.com/sshgress/sshgress/core/config"
	"github.com/sshgress/sshgress/core/store"
	"github.com/sshgress/sshgress/e2e"
)

// TestStoreKeyLive: a key added to the store while the edge runs opens a
// tunnel without a restart, still works after a restart on the same data
// dir, and deleting it ends its session, which says why.
func TestStoreKeyLive(t *testing.T) {
	_, port := backend(t)
	dir := t.TempDir()
	ann, carol := e2e.NewKey(t, dir, "ann"), e2e.NewKey(t, dir, "carol")
	dataDir := t.TempDir()
	configure := func(c *config.Config) {
		c.DataDir = dataDir
		c.Accounts = []config.Account{{Name: "ann", Keys: []string{ann.AuthorizedKey}}}
	}
	edge := newEdge(t, configure)
	ctx := context.Background()

	// Refused before the key is stored.
	s := edge.RunSSH(t, carol, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http")
	if code := s.Wait(15 * time.Second); code <= 0 {
		t.Fatalf("an unknown key got in: exit %d", code)
	}
	if _, err := edge.Store().CreateAccount(ctx, "ann"); err == nil || !strings.Contains(err.Error(), "config file") {
		t.Errorf("store write to config account ann: %v", err)
	}
	if _, err := edge.Store().CreateAccount(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	if _, err := edge.Store().AddKey(ctx, "carol", carol.AuthorizedKey, "laptop"); err != nil {
		t.Fatal(err)
	}
	// The next connection is accepted (the directory follows the store's
	// watch: allow it a moment, bounded).
	var url string
	s = runSSHOnceAccepted(t, edge, carol, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http")
	url = s.URL(t)
	if st, _ := edge.Get(t, url); st != 200 {
		t.Errorf("GET %s: %d", url, st)
	}
	s.Kill()

	// A restart on the same data dir keeps the key.
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	edge.Shutdown(sctx)
	cancel()
	edge = newEdge(t, configure)
	s = edge.RunSSH(t, carol, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http")
	url = s.URL(t)
	if st, _ := edge.Get(t, url); st != 200 {
		t.Errorf("after a restart GET %s: %d", url, st)
	}

	// Deleting the key ends the session, which says why.
	keys, err := edge.Store().Keys(ctx, "carol")
	if err != nil || len(keys) != 1 {
		t.Fatalf("carol's keys after the restart: %v %v", keys, err)
	}
	if err := edge.Store().RemoveKey(ctx, "carol", keys[0].ID); err != nil {
		t.Fatal(err)
	}
	if code := s.Wait(5 * time.Second); code == -1 {
		t.Fatalf("the session of a deleted key still runs after 5s")
	}
	if !strings.Contains(s.Stderr.String(), "was removed from account carol") {
		t.Errorf("the session does not say why it ended:\nstdout:\n%s\nstderr:\n%s", s.Stdout, s.Stderr)
	}
}

// TestStoreFileStopsStartUp: a second edge on the same data dir, and an
// edge on a corrupt store file, stop at start-up with an error naming the
// file; the file is left as it was.
func TestStoreFileStopsStartUp(t *testing.T) {
	dataDir := t.TempDir()
	edge := newEdge(t, func(c *config.Config) { c.DataDir = dataDir })
	cfg := config.Defaults()
	cfg.DataDir = dataDir
	cfg.SSH.Addr, cfg.HTTP.Addr, cfg.HTTPS.Addr, cfg.Admin.Addr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	file := filepath.Join(dataDir, store.FileName)
	_, err := core.New(context.Background(), cfg, core.Options{})
	if err == nil || !strings.Contains(err.Error(), "locked by another edge") || !strings.Contains(err.Error(), file) {
		t.Errorf("a second edge on one data dir: %v", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	edge.Shutdown(sctx)
	cancel()
	junk := bytes.Repeat([]byte("not a store "), 4096)
	if err := os.WriteFile(file, junk, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = core.New(context.Background(), cfg, core.Options{})
	if err == nil || !strings.Contains(err.Error(), "truncated or corrupt") || !strings.Contains(err.Error(), file) {
		t.Errorf("an edge on a corrupt store: %v", err)
	}
	if got, _ := os.ReadFile(file); !bytes.Equal(got, junk) {
		t.Errorf("the corrupt store file was changed")
	}
}
