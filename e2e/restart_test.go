package e2e_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/config"
	"github.com/sshgress/sshgress/e2e"
)

// TestEdgeRestartWithAutossh: 20 autossh clients hold reserved names; the
// edge goes away for 2 s and comes back on the same ports and data dir.
// Every route must return within 5 s, with the same names, and a rival
// account must never get one.
func TestEdgeRestartWithAutossh(t *testing.T) {
	e2e.RequireSSH(t)
	e2e.RequireTool(t, "autossh", "autossh")
	const n = 20
	_, port := backend(t)
	dir := t.TempDir()
	ann, rival := e2e.NewKey(t, dir, "ann"), e2e.NewKey(t, dir, "rival")
	var names []string
	for i := range n {
		names = append(names, fmt.Sprintf("svc%d.example.org", i))
	}
	dataDir := t.TempDir()
	configure := func(sshAddr, httpAddr string) func(*config.Config) {
		return func(c *config.Config) {
			c.DataDir = dataDir
			if sshAddr != "" {
				c.SSH.Addr, c.HTTP.Addr = sshAddr, httpAddr
			}
			c.Accounts = []config.Account{
				{Name: "ann", Keys: []string{ann.AuthorizedKey}, Domains: names},
				{Name: "rival", Keys: []string{rival.AuthorizedKey}},
			}
		}
	}
	edge := newEdge(t, configure("", ""))
	sshAddr, httpAddr := edge.SSHAddr().String(), edge.HTTPAddr().String()
	_, httpPort, _ := strings.Cut(httpAddr, ":")

	for i := range n {
		args := append([]string{"-M", "0"}, edge.SSHArgs(ann)...)
		args = append(args, "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=2",
			"-N", "-R", names[i]+":80:localhost:"+port, "v2@127.0.0.1")
		cmd := exec.Command("autossh", args...)
		cmd.Env = append(os.Environ(), "AUTOSSH_GATETIME=0", "AUTOSSH_POLL=5")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			cmd.Wait()
		})
	}
	allUp := func(e *e2e.Edge, within time.Duration) time.Duration {
		start := time.Now()
		for _, name := range names {
			for {
				st, _ := e.Get(t, "http://"+name+":"+httpPort+"/")
				if st == 200 {
					break
				}
				if time.Since(start) > within {
					t.Fatalf("%s not back within %s (status %d)", name, within, st)
				}
				time.Sleep(25 * time.Millisecond)
			}
		}
		return time.Since(start)
	}
	allUp(edge, 15*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	edge.Shutdown(ctx)
	cancel()
	time.Sleep(2 * time.Second)
	edge2 := newEdge(t, configure(sshAddr, httpAddr))
	// A rival grabbing the names the moment the edge is back is refused.
	s := edge2.RunSSH(t, rival, "-R", names[0]+":80:localhost:"+port, "v2@127.0.0.1", "http")
	if code := s.Wait(10 * time.Second); code <= 0 {
		t.Errorf("rival exit %d, want refused", code)
	}
	took := allUp(edge2, 5*time.Second)
	t.Logf("all %d routes back %s after the edge returned", n, took.Round(time.Millisecond))
}
