package e2e_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/config"
	"github.com/sshgress/sshgress/e2e"
)

// saying is a local service that answers every request with its word, so
// a test knows which of two tunnels a visitor reached.
func saying(t *testing.T, word string) string {
	t.Helper()
	return serveBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, word)
	}))
}

// waitBody polls url until it answers 200 with body want, or fails after d.
func waitBody(t *testing.T, edge *e2e.Edge, url, want string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		st, body := edge.Get(t, url)
		if st == 200 && body == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d %q after %s, want 200 %q", url, st, body, d, want)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// TestTakeoverFromFrozenClient: a client frozen mid-session (SIGSTOP: the
// laptop lid, a dead network) holds -R dup:80. Its owner's reconnect gets
// the name at once, long before keepalives (45 s) would free it, and
// visitors reach the new tunnel; the frozen session is told and closed.
// Another owner is refused "in use". Anonymous users are owners by key;
// with accounts, any key of the account is the owner.
func TestTakeoverFromFrozenClient(t *testing.T) {
	dir := t.TempDir()
	ann, ann2, bob := e2e.NewKey(t, dir, "ann"), e2e.NewKey(t, dir, "ann2"), e2e.NewKey(t, dir, "bob")
	withAccounts := func(c *config.Config) {
		c.Accounts = []config.Account{
			{Name: "ann", Keys: []string{ann.AuthorizedKey, ann2.AuthorizedKey}},
			{Name: "bob", Keys: []string{bob.AuthorizedKey}},
		}
	}
	tests := []struct {
		name      string
		configure func(*config.Config)
		reconnect *e2e.Key // takes the name over
		rival     *e2e.Key // refused in use
		who       string   // how the old session names the newer connection
	}{
		{name: "anonymous, same key", reconnect: ann, rival: bob, who: "with the same SSH key"},
		{name: "accounts, another key of the account", configure: withAccounts, reconnect: ann2, rival: bob, who: "of your account"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			edge := newEdge(t, tt.configure)
			one, two := saying(t, "one"), saying(t, "two")
			old := edge.RunSSH(t, ann, "-R", "dup:80:localhost:"+one, "v2@127.0.0.1", "http")
			url := old.URL(t)
			waitBody(t, edge, url+"/", "one", 5*time.Second)
			old.Cmd.Process.Signal(syscall.SIGSTOP)
			defer old.Cmd.Process.Signal(syscall.SIGCONT)

			// The rival first: the frozen owner still holds the name.
			rival := edge.RunSSH(t, tt.rival, "-R", "dup:80:localhost:"+two, "v2@127.0.0.1", "http")
			if code := rival.Wait(10 * time.Second); code <= 0 {
				t.Fatalf("rival exit %d, want refused", code)
			}
			if !strings.Contains(rival.Stderr.String(), "dup.localhost is in use by another tunnel") {
				t.Errorf("rival stderr %q, want it refused in use", rival.Stderr)
			}

			s := edge.RunSSH(t, tt.reconnect, "-R", "dup:80:localhost:"+two, "v2@127.0.0.1", "http")
			if got := s.URL(t); got != url {
				t.Fatalf("reconnect got %s, want the name back: %s", got, url)
			}
			waitBody(t, edge, url+"/", "two", 5*time.Second)

			// The frozen session, once it runs again, reads that it was
			// taken over and ends with status 0 (an autossh loop stops).
			old.Cmd.Process.Signal(syscall.SIGCONT)
			if code := old.Wait(10 * time.Second); code != 0 {
				t.Errorf("taken-over ssh exit %d, want 0; stderr %q", code, old.Stderr)
			}
			out := old.Stdout.String() + old.Stderr.String()
			for _, want := range []string{
				"dup.localhost was taken over by a newer connection " + tt.who,
				"All tunnels of this connection were taken over by a newer connection " + tt.who + "; closing this one.",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("the taken-over session lacks %q:\n%s", want, out)
				}
			}
			if st, body := edge.Get(t, url+"/"); st != 200 || body != "two" {
				t.Errorf("after the old session ended: %d %q, want 200 \"two\"", st, body)
			}
			if strings.Contains(edge.Logs.String(), "ssh client stopped answering keepalives") {
				t.Errorf("the name came back through keepalives, not the takeover")
			}
		})
	}
}

// TestTakeoverKeepsOtherTunnels: a connection that loses one of its two
// names stays up with the other, and is told about the one it lost.
func TestTakeoverKeepsOtherTunnels(t *testing.T) {
	edge := newEdge(t, nil)
	key := e2e.NewKey(t, t.TempDir(), "id")
	one, two := saying(t, "one"), saying(t, "two")
	old := edge.RunSSH(t, key, "-R", "a:80:localhost:"+one, "-R", "b:80:localhost:"+one, "v2@127.0.0.1", "http")
	urls := old.URLs(t, 2)
	s := edge.RunSSH(t, key, "-R", "a:80:localhost:"+two, "v2@127.0.0.1", "http")
	s.URL(t)
	old.WaitOutput(t, "a.localhost was taken over by a newer connection with the same SSH key", 5*time.Second)
	waitBody(t, edge, urls[0]+"/", "two", 5*time.Second)
	waitBody(t, edge, urls[1]+"/", "one", 5*time.Second)
	select {
	case <-old.Done():
		t.Fatalf("the connection ended although it still serves %s; stderr %q", urls[1], old.Stderr)
	default:
	}
}

// blackhole is a TCP proxy to the edge's SSH port whose existing
// connections can be black-holed: bytes are read and dropped both ways,
// nothing is closed, as when a network drops. New connections pass.
type blackhole struct {
	ln      net.Listener
	mu      sync.Mutex
	live    []chan struct{} // closed to black-hole a connection
	accepts []time.Time
}

func newBlackhole(t *testing.T, target string) *blackhole {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackhole{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.DialTimeout("tcp", target, 5*time.Second)
			if err != nil {
				c.Close()
				continue
			}
			drop := make(chan struct{})
			b.mu.Lock()
			b.live = append(b.live, drop)
			b.accepts = append(b.accepts, time.Now())
			b.mu.Unlock()
			t.Cleanup(func() { c.Close(); up.Close() })
			go pipeUnlessDropped(up, c, drop)
			go pipeUnlessDropped(c, up, drop)
		}
	}()
	return b
}

// pipeUnlessDropped copies src to dst until drop is closed, then reads and
// discards src.
func pipeUnlessDropped(dst io.Writer, src io.Reader, drop <-chan struct{}) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		select {
		case <-drop:
			n = 0
		default:
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// dropAll black-holes every connection made so far.
func (b *blackhole) dropAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, d := range b.live {
		close(d)
	}
	b.live = nil
}

func (b *blackhole) port() string {
	_, p, _ := net.SplitHostPort(b.ln.Addr().String())
	return p
}

// acceptedAt returns when the proxy accepted its nth connection (from 0).
func (b *blackhole) acceptedAt(n int) (time.Time, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n < len(b.accepts) {
		return b.accepts[n], true
	}
	return time.Time{}, false
}

// TestAutosshReconnectTakesNameBack: autossh holds -N -R dup:80 through a
// network that drops (its connection black-holed, the edge never told).
// ssh's own keepalives give up and autossh reconnects; the reconnect gets
// dup back from the edge's stale connection at once, while that one
// still has 45 s of keepalive budget left.
func TestAutosshReconnectTakesNameBack(t *testing.T) {
	e2e.RequireSSH(t)
	e2e.RequireTool(t, "autossh", "autossh")
	edge := newEdge(t, nil)
	key := e2e.NewKey(t, t.TempDir(), "id")
	port := saying(t, "up")
	proxy := newBlackhole(t, edge.SSHAddr().String())
	args := append([]string{"-M", "0"}, edge.SSHArgs(key)...)
	args[len(args)-1] = proxy.port() // SSHArgs ends with -p PORT
	args = append(args, "-o", "ServerAliveInterval=1", "-o", "ServerAliveCountMax=2",
		"-N", "-R", "dup:80:localhost:"+port, "v2@127.0.0.1")
	cmd := exec.Command("autossh", args...)
	cmd.Env = append(os.Environ(), "AUTOSSH_GATETIME=0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	_, httpPort, _ := net.SplitHostPort(edge.HTTPAddr().String())
	url := "http://dup.localhost:" + httpPort
	waitBody(t, edge, url+"/", "up", 15*time.Second)

	proxy.dropAll()
	dropped := time.Now()
	// The edge's keepalive budget is 45 s: a name back within 20 s can
	// only have been taken over.
	deadline := dropped.Add(20 * time.Second)
	for !strings.Contains(edge.Logs.String(), "tunnel taken over by a newer connection") {
		if time.Now().After(deadline) {
			t.Fatalf("no takeover within 20 s of the drop")
		}
		time.Sleep(25 * time.Millisecond)
	}
	waitBody(t, edge, url+"/", "up", 5*time.Second)
	back := time.Now()
	if strings.Contains(edge.Logs.String(), "ssh client stopped answering keepalives") {
		t.Errorf("the edge's keepalives freed the name, not the takeover")
	}
	if at, ok := proxy.acceptedAt(1); ok {
		t.Logf("name back %s after the drop, %s after autossh's new connection arrived",
			back.Sub(dropped).Round(time.Millisecond), back.Sub(at).Round(time.Millisecond))
	}
}

var listedURL = regexp.MustCompile(`(?m)^  (https?://\S+)\s+(-R \S+)`)

// tunnels runs `ssh … tunnels` with key and returns its output and the
// URLs it lists.
func tunnels(t *testing.T, edge *e2e.Edge, key *e2e.Key) (string, []string) {
	t.Helper()
	s := edge.RunSSH(t, key, "v2@127.0.0.1", "tunnels")
	if code := s.Wait(10 * time.Second); code != 0 {
		t.Fatalf("tunnels exit %d, want 0; stderr %q", code, s.Stderr)
	}
	var urls []string
	for _, m := range listedURL.FindAllStringSubmatch(s.Stdout.String(), -1) {
		urls = append(urls, m[1])
	}
	return s.Stdout.String(), urls
}

// waitTunnels polls the tunnels command until it lists n URLs.
func waitTunnels(t *testing.T, edge *e2e.Edge, key *e2e.Key, n int) []string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, urls := tunnels(t, edge, key)
		if len(urls) == n {
			return urls
		}
		if time.Now().After(deadline) {
			t.Fatalf("tunnels lists %d URLs after 15 s, want %d:\n%s", len(urls), n, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestSSHNStableNameAndTunnels: ssh -N without a remote name prints
// nothing, so its URL must be findable: the tunnels command lists it, and
// it is the same every time for the same key (also across an edge
// restart), so a reconnect takes it over. Another key neither sees it
// nor gets it.
func TestSSHNStableNameAndTunnels(t *testing.T) {
	dir := t.TempDir()
	ann, bob := e2e.NewKey(t, dir, "ann"), e2e.NewKey(t, dir, "bob")
	dataDir := t.TempDir()
	edge := newEdge(t, func(c *config.Config) { c.DataDir = dataDir })
	one, two := saying(t, "one"), saying(t, "two")

	if out, urls := tunnels(t, edge, ann); len(urls) != 0 || !strings.Contains(out, "No live tunnels") {
		t.Fatalf("tunnels before any tunnel:\n%s", out)
	}
	first := edge.RunSSH(t, ann, "-N", "-R", "80:localhost:"+one, "v2@127.0.0.1")
	urls := waitTunnels(t, edge, ann, 1)
	url := urls[0]
	waitBody(t, edge, url+"/", "one", 5*time.Second)
	out, _ := tunnels(t, edge, ann)
	if !strings.Contains(out, url+"  -R 80  (ssh -N, since ") {
		t.Errorf("tunnels does not show the forward and that it has no session:\n%s", out)
	}
	if out, urls := tunnels(t, edge, bob); len(urls) != 0 {
		t.Errorf("another key sees ann's tunnels:\n%s", out)
	}

	// The same key again, its first connection frozen: the same name,
	// taken over at once.
	first.Cmd.Process.Signal(syscall.SIGSTOP)
	defer first.Cmd.Process.Signal(syscall.SIGCONT)
	second := edge.RunSSH(t, ann, "-N", "-R", "80:localhost:"+two, "v2@127.0.0.1")
	waitBody(t, edge, url+"/", "two", 15*time.Second)
	if got := waitTunnels(t, edge, ann, 1); got[0] != url {
		t.Errorf("second ssh -N got %s, want the same name %s", got[0], url)
	}

	// Another key gets a name of its own.
	other := edge.RunSSH(t, bob, "-N", "-R", "80:localhost:"+one, "v2@127.0.0.1")
	bobs := waitTunnels(t, edge, bob, 1)
	if bobs[0] == url {
		t.Errorf("another key got ann's stable name %s", url)
	}
	other.Kill()
	second.Kill()
	first.Kill()

	// The edge restarts on the same state directory: the same name.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	edge.Shutdown(ctx)
	cancel()
	edge2 := newEdge(t, func(c *config.Config) { c.DataDir = dataDir })
	edge2.RunSSH(t, ann, "-N", "-R", "80:localhost:"+one, "v2@127.0.0.1")
	got := waitTunnels(t, edge2, ann, 1)
	if host := strings.Split(e2e.Host(got[0]), ":")[0]; host != strings.Split(e2e.Host(url), ":")[0] {
		t.Errorf("after a restart ssh -N got %s, want the host of %s", got[0], url)
	}
	// Another edge, with its own state directory and so its own secret,
	// gives the same key another name.
	elsewhere := newEdge(t, nil)
	elsewhere.RunSSH(t, ann, "-N", "-R", "80:localhost:"+one, "v2@127.0.0.1")
	if got := waitTunnels(t, elsewhere, ann, 1); strings.Split(e2e.Host(got[0]), ":")[0] == strings.Split(e2e.Host(url), ":")[0] {
		t.Errorf("another edge (another state directory) gave the same key the same name %s: names must not be linkable across edges", got[0])
	}
}

// TestTunnelsHelp: tunnels has --help and needs no forward.
func TestTunnelsHelp(t *testing.T) {
	edge := newEdge(t, nil)
	key := e2e.NewKey(t, t.TempDir(), "id")
	s := edge.RunSSH(t, key, "v2@127.0.0.1", "tunnels", "--help")
	if code := s.Wait(10 * time.Second); code != 0 {
		t.Fatalf("tunnels --help exit %d; stderr %q", code, s.Stderr)
	}
	if !strings.Contains(s.Stdout.String(), "List your live tunnels on this server") {
		t.Errorf("tunnels --help:\n%s", s.Stdout)
	}
	s = edge.RunSSH(t, key, "v2@127.0.0.1", "help")
	s.Wait(10 * time.Second)
	if !strings.Contains(s.Stdout.String(), "tunnels   List your live tunnels") {
		t.Errorf("help does not list tunnels:\n%s", s.Stdout)
	}
}

// TestPortHintKeepsLocalTarget: a wrong remote port gets a hint that
// keeps the user's name and does not invent a local port: the forward
// request does not carry "3000", and the hint used to say
// -R 80:localhost:8080.
func TestPortHintKeepsLocalTarget(t *testing.T) {
	edge := newEdge(t, nil)
	key := e2e.NewKey(t, t.TempDir(), "id")
	for _, tc := range []struct{ remote, want string }{
		{"8080:localhost:3000", "-R 80:localhost:LOCALPORT"},
		{"myapp:8080:localhost:3000", "-R myapp:80:localhost:LOCALPORT"},
	} {
		s := edge.RunSSH(t, key, "-R", tc.remote, "v2@127.0.0.1", "http")
		if code := s.Wait(10 * time.Second); code != 1 {
			t.Fatalf("-R %s: exit %d, want 1", tc.remote, code)
		}
		got := s.Stderr.String()
		if !strings.Contains(got, tc.want) || strings.Contains(got, "localhost:8080") {
			t.Errorf("-R %s: stderr %q, want the hint %q and no made-up local port", tc.remote, got, tc.want)
		}
	}
}

// exampleForward is the -R of a help text's example command line.
var exampleForward = regexp.MustCompile(`-R (\S+:)?(\d+):localhost:\d+ (?:\S+ )*?v2@\S+(?: -p \d+)? (\w+)`)

// TestHelpExamplesWorkHere: every example the help of a default edge
// prints binds for the user reading it, here an anonymous local user (a
// custom domain there would be refused), and no flag's help says
// "repeatable" twice.
func TestHelpExamplesWorkHere(t *testing.T) {
	edge := endpointEdge(t, nil)
	key := e2e.NewKey(t, t.TempDir(), "id")
	port := saying(t, "hi")
	help := func(args ...string) string {
		s := edge.RunSSH(t, key, append([]string{"v2@127.0.0.1"}, args...)...)
		if code := s.Wait(10 * time.Second); code != 0 {
			t.Fatalf("%v: exit %d; stderr %q", args, code, s.Stderr)
		}
		return s.Stdout.String()
	}
	texts := map[string]string{"help": help("help"), "http --help": help("http", "--help"), "tls --help": help("tls", "--help"), "tcp --help": help("tcp", "--help")}
	// The general help's remote-name sentence shows a name too.
	label := regexp.MustCompile(`-R (\w+):443:localhost:3000 asks for`).FindStringSubmatch(texts["help"])
	if label == nil {
		t.Fatalf("the general help shows no example name:\n%s", texts["help"])
	}
	tried := 0
	for what, text := range texts {
		flat := strings.ReplaceAll(text, "\\\n    ", "")
		for _, m := range exampleForward.FindAllStringSubmatch(flat, -1) {
			tried++
			remote, cmd := m[1]+m[2]+":localhost:"+port, m[3]
			s := edge.RunSSH(t, key, "-R", remote, "v2@127.0.0.1", cmd)
			s.URL(t)
			s.Kill()
			t.Logf("%s: example -R %s%s %s binds", what, m[1], m[2], cmd)
		}
		for _, block := range strings.Split(text, "\n  --")[1:] {
			if n := strings.Count(strings.ToLower(block), "repeatable"); n > 1 {
				t.Errorf("%s: a flag says \"repeatable\" %d times:\n  --%s", what, n, block)
			}
		}
	}
	s := edge.RunSSH(t, key, "-R", label[1]+":443:localhost:"+port, "v2@127.0.0.1", "http")
	s.URL(t)
	if tried < 3 {
		t.Errorf("found %d example command lines in the help texts, want one per command:\n%v", tried, texts)
	}
}
