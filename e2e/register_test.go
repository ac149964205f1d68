package e2e_test

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/config"
	"github.com/sshgress/sshgress/e2e"
	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"
)

const notRegistered = "this key is not registered here: ask the operator for an invite, then run `ssh v2@localhost -p "

// registrationEdge is an edge with ssh.registration: invite, store account
// carol and config account ann.
func registrationEdge(t *testing.T, ann *e2e.Key) *e2e.Edge {
	t.Helper()
	edge := newEdge(t, func(c *config.Config) {
		c.SSH.Registration = config.RegistrationInvite
		c.Accounts = []config.Account{{Name: "ann", Keys: []string{ann.AuthorizedKey}}}
	})
	if _, err := edge.Store().CreateAccount(context.Background(), "carol"); err != nil {
		t.Fatal(err)
	}
	return edge
}

// TestRegisterThenTunnel: a stranger's key runs `register CODE` with an
// invite code and then opens a tunnel with the same key; the code cannot
// be used again.
func TestRegisterThenTunnel(t *testing.T) {
	_, port := backend(t)
	dir := t.TempDir()
	ann, carol, dave := e2e.NewKey(t, dir, "ann"), e2e.NewKey(t, dir, "carol"), e2e.NewKey(t, dir, "dave")
	edge := registrationEdge(t, ann)
	code, _, err := edge.Store().CreateInvite(context.Background(), "carol", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	s := edge.RunSSH(t, carol, "v2@127.0.0.1", "register", code)
	if st := s.Wait(15 * time.Second); st != 0 {
		t.Fatalf("register: exit %d\nstdout:\n%s\nstderr:\n%s", st, s.Stdout, s.Stderr)
	}
	if out := s.Stdout.String(); !strings.Contains(out, "account carol") || !strings.Contains(out, ssh.FingerprintSHA256(carol.Signer.PublicKey())) || !strings.Contains(out, "ssh -R 80:localhost:3000") {
		t.Errorf("register says:\n%s", out)
	}
	if strings.Contains(edge.Logs.String(), code) {
		t.Errorf("the edge logged the invite code")
	}
	// The next connection with that key is a normal one (the directory
	// follows the store's watch: allow it a moment, bounded).
	var url string
	s = runSSHOnceAccepted(t, edge, carol, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http")
	url = s.URL(t)
	if st, _ := edge.Get(t, url); st != 200 {
		t.Errorf("GET %s: %d", url, st)
	}
	// The login is recorded as the key's last use (best effort, soon).
	for try := 0; ; try++ {
		keys, err := edge.Store().Keys(context.Background(), "carol")
		if err == nil && len(keys) == 1 && !keys[0].LastUsed.IsZero() {
			break
		}
		if try > 50 {
			t.Fatalf("the key's last use is not recorded: %v %v", keys, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The code is used up.
	s = edge.RunSSH(t, dave, "v2@127.0.0.1", "register", code)
	if st := s.Wait(15 * time.Second); st <= 0 {
		t.Fatalf("a reused code: exit %d", st)
	}
	if !strings.Contains(s.Stderr.String(), "this invite code is not valid") {
		t.Errorf("a reused code says:\n%s", s.Stderr)
	}
}

// TestRegisterStrangerRefused: an unregistered key's `http` with -R gets
// the one sentence and no forward; five wrong codes put its source in the
// penalty box.
func TestRegisterStrangerRefused(t *testing.T) {
	_, port := backend(t)
	dir := t.TempDir()
	ann, dave := e2e.NewKey(t, dir, "ann"), e2e.NewKey(t, dir, "dave")
	edge := registrationEdge(t, ann)

	s := edge.RunSSH(t, dave, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http")
	if st := s.Wait(15 * time.Second); st <= 0 {
		t.Fatalf("a stranger's http: exit %d", st)
	}
	if !strings.Contains(s.Stderr.String(), notRegistered+edge.SSHPort+" register CODE`") {
		t.Errorf("a stranger's http says:\n%s", s.Stderr)
	}
	if strings.Contains(s.Stdout.String()+s.Stderr.String(), "Forwarding") {
		t.Errorf("a stranger got a forward:\n%s", s.Stdout)
	}
	s = edge.RunSSH(t, dave, "-o", "ExitOnForwardFailure=yes", "-N", "-R", "80:localhost:"+port, "v2@127.0.0.1")
	if st := s.Wait(15 * time.Second); st <= 0 {
		t.Fatalf("a stranger's ssh -N -R: exit %d", st)
	}

	for i := range 5 {
		s = edge.RunSSH(t, dave, "v2@127.0.0.1", "register", "wrong-code")
		if st := s.Wait(15 * time.Second); st <= 0 {
			t.Fatalf("wrong code %d: exit %d", i, st)
		}
		if !strings.Contains(s.Stderr.String(), "this invite code is not valid") {
			t.Fatalf("wrong code %d says:\n%s", i, s.Stderr)
		}
	}
	if !strings.Contains(edge.Logs.String(), "ssh registration refused") || strings.Contains(edge.Logs.String(), "wrong-code") {
		t.Errorf("wrong codes are not logged, or logged with the code")
	}
	// The source is refused now, even with the right code.
	code, _, err := edge.Store().CreateInvite(context.Background(), "carol", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	s = edge.RunSSH(t, dave, "v2@127.0.0.1", "register", code)
	if st := s.Wait(15 * time.Second); st != 255 || strings.Contains(s.Stdout.String(), "Registered") {
		t.Errorf("after 5 wrong codes: exit %d\n%s%s", st, s.Stdout, s.Stderr)
	}
}

// TestRegistrationOffRefusesStrangers: with ssh.registration off a key no
// account holds is refused at authentication, `register` or not.
func TestRegistrationOffRefusesStrangers(t *testing.T) {
	dir := t.TempDir()
	ann, dave := e2e.NewKey(t, dir, "ann"), e2e.NewKey(t, dir, "dave")
	edge := newEdge(t, func(c *config.Config) {
		c.Accounts = []config.Account{{Name: "ann", Keys: []string{ann.AuthorizedKey}}}
	})
	s := edge.RunSSH(t, dave, "v2@127.0.0.1", "register", "x")
	if st := s.Wait(15 * time.Second); st != 255 || !strings.Contains(s.Stderr.String(), "Permission denied (publickey)") {
		t.Errorf("registration off: exit %d\n%s", st, s.Stderr)
	}
}

// TestLoginLink: `login` prints the dashboard's one-time link for the
// key's account; without a dashboard it says so.
func TestLoginLink(t *testing.T) {
	e2e.RequireSSH(t)
	dir := t.TempDir()
	ann := e2e.NewKey(t, dir, "ann")
	configure := func(c *config.Config) {
		c.Accounts = []config.Account{{Name: "ann", Keys: []string{ann.AuthorizedKey}}}
	}
	edge := e2e.StartEdge(t, e2e.EdgeOptions{Configure: configure, LoginLink: func(_ context.Context, account string) (string, error) {
		if account != "ann" {
			return "", errors.New("wrong account")
		}
		return "https://dash.localhost/login/one-time-ann", nil
	}})
	s := edge.RunSSH(t, ann, "v2@127.0.0.1", "login")
	if st := s.Wait(15 * time.Second); st != 0 || !strings.Contains(s.Stdout.String(), "https://dash.localhost/login/one-time-ann") {
		t.Errorf("login: exit %d\n%s%s", st, s.Stdout, s.Stderr)
	}
	if strings.Contains(edge.Logs.String(), "one-time-ann") {
		t.Errorf("the edge logged the sign-in link")
	}
	plain := newEdge(t, configure)
	s = plain.RunSSH(t, ann, "v2@127.0.0.1", "login")
	if st := s.Wait(15 * time.Second); st != 1 || !strings.Contains(s.Stderr.String(), "this edge has no dashboard") {
		t.Errorf("login without a dashboard: exit %d\n%s", st, s.Stderr)
	}
}

// TestRegisterWeakKeyRefused: with registration open, a weak key is still
// refused at authentication with today's reason, so it cannot register.
func TestRegisterWeakKeyRefused(t *testing.T) {
	dir := t.TempDir()
	edge := registrationEdge(t, e2e.NewKey(t, dir, "ann"))
	code, _, err := edge.Store().CreateInvite(context.Background(), "carol", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	path, fp := sshKeygen(t, dir, "rsa1024", "-t", "rsa", "-b", "1024")
	cmd := exec.Command("ssh", append(verboseSSHArgs(edge, path), "v2@127.0.0.1", "register", code)...)
	out, err := runBounded(t, cmd, 20*time.Second)
	if err == nil || !strings.Contains(out, "Permission denied (publickey)") ||
		!strings.Contains(out, "sshgress: your key "+fp+" is refused: an RSA key of 1024 bits") {
		t.Errorf("a weak key with a valid code: %v\n%s", err, out)
	}
	if keys, _ := edge.Store().Keys(context.Background(), "carol"); len(keys) != 0 {
		t.Errorf("a weak key was registered: %v", keys)
	}
}
