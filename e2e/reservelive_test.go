package e2e_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/config"
	"github.com/sshgress/sshgress/e2e"
)

// TestReservationAppliesToNextBind: a domain reserved in the store while a
// connection is open is the connection's own at its next forward
// (`ssh -O forward` on the open connection).
func TestReservationAppliesToNextBind(t *testing.T) {
	_, port := backend(t)
	dir := t.TempDir()
	ann, carol := e2e.NewKey(t, dir, "ann"), e2e.NewKey(t, dir, "carol")
	edge := newEdge(t, func(c *config.Config) {
		c.Accounts = []config.Account{{Name: "ann", Keys: []string{ann.AuthorizedKey}}}
	})
	ctx := context.Background()
	if _, err := edge.Store().CreateAccount(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	if _, err := edge.Store().AddKey(ctx, "carol", carol.AuthorizedKey, "laptop"); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "ctl")
	s := runSSHOnceAccepted(t, edge, carol, "-M", "-S", sock, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http")
	s.URL(t)
	if _, err := edge.Store().ReserveDomain(ctx, "carol", "carolapp"); err != nil {
		t.Fatal(err)
	}
	var out []byte
	for try := 0; ; try++ {
		args := append(edge.SSHArgs(carol), "-S", sock, "-O", "forward", "-R", "carolapp.localhost:80:localhost:"+port, "v2@127.0.0.1")
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		var err error
		out, err = exec.CommandContext(cctx, "ssh", args...).CombinedOutput()
		cancel()
		if err == nil {
			break
		}
		if try > 20 {
			t.Fatalf("ssh -O forward of carol's reserved name: %v\n%s\nsession:\n%s", err, out, s.Stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	url := "http://carolapp.localhost:" + strings.Split(edge.HTTPAddr().String(), ":")[1] + "/"
	if st, _ := edge.Get(t, url); st != 200 {
		t.Errorf("GET %s after the reservation: %d\nsession:\n%s%s", url, st, s.Stdout, s.Stderr)
	}
}
