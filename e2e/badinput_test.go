package e2e_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"

	"github.com/sshgress/sshgress/core/config"
	"github.com/sshgress/sshgress/e2e"
)

type fwdReply struct {
	ok      bool
	payload []byte
}

// goSession connects with x/crypto's client (which, unlike OpenSSH, sends
// whatever we ask), requests the forwards, runs cmd in a session and
// returns what the user would see plus the forward replies.
func goSession(t *testing.T, edge *e2e.Edge, key *e2e.Key, forwards []forwardReq, cmd string) (stdout, stderr string, exit int, replies []fwdReply) {
	t.Helper()
	cl := goClient(t, edge, key)
	defer cl.Close()
	var wg sync.WaitGroup
	replies = make([]fwdReply, len(forwards))
	// The edge holds forward replies until the command arrives: request
	// them in order from one goroutine, as OpenSSH pipelines them.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i, f := range forwards {
			ok, p, err := cl.SendRequest("tcpip-forward", true, ssh.Marshal(f))
			if err != nil {
				return
			}
			replies[i] = fwdReply{ok, p}
		}
	}()
	time.Sleep(50 * time.Millisecond)
	sess, err := cl.NewSession()
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	var out, errb bytes.Buffer
	sess.Stdout, sess.Stderr = &out, &errb
	err = sess.Run(cmd)
	var ee *ssh.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		exit = ee.ExitStatus()
	default:
		exit = -1
	}
	cl.Close()
	wg.Wait()
	return out.String(), errb.String(), exit, replies
}

type forwardReq struct {
	Addr string
	Port uint32
}

func goClient(t *testing.T, edge *e2e.Edge, key *e2e.Key) *ssh.Client {
	t.Helper()
	cl, err := ssh.Dial("tcp", edge.SSHAddr().String(), &ssh.ClientConfig{
		User:            "v2",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(key.Signer)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(),
		Timeout:         5 * time.Second,
	})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return cl
}

// TestBadInputFromSSHUsers sends malformed commands and forwards while a
// healthy tunnel serves traffic: each gets a clear message within a second
// and a non-zero exit status; the healthy tunnel sees no error.
func TestBadInputFromSSHUsers(t *testing.T) {
	_, port := backend(t)
	edge := newEdge(t, nil)
	key := e2e.NewKey(t, t.TempDir(), "id")

	healthy := edge.RunSSH(t, key, "-R", "healthy:80:localhost:"+port, "v2@127.0.0.1", "http")
	url := healthy.URL(t)
	tr := startTraffic(edge, url+"/ok", 1)

	http80 := []forwardReq{{"", 80}}
	tests := []struct {
		name     string
		forwards []forwardReq
		cmd      string
		want     string
	}{
		{"unknown verb", http80, "serve", `unknown command "serve"`},
		{"unknown flag", http80, "http --nope", "--nope"},
		{"malformed basic auth of a disabled plugin", http80, "http --basic-auth", "basic-auth"},
		{"exec of 10 KiB", http80, "http " + strings.Repeat("x", 10<<10), "at most 4096 bytes"},
		{"1000 arguments", http80, "http" + strings.Repeat(" --a", 1000), "at most 256"},
		{"NUL byte", http80, "http\x00--x", "NUL"},
		{"invalid UTF-8", http80, "http \xff\xfe", "UTF-8"},
		{"unbalanced quote", http80, `http --x 'abc`, "quot"},
		{"port 65536", []forwardReq{{"", 65536}}, "http", "65536"},
		{"port 2^32-1", []forwardReq{{"", 1<<32 - 1}}, "http", "4294967295"},
		{"port 22", []forwardReq{{"", 22}}, "http", "80, 443 or 0"},
		{"bind 0.0.0.0", []forwardReq{{"0.0.0.0", 80}}, "http", "IP address"},
		{"bind ::1", []forwardReq{{"::1", 80}}, "http", "IP address"},
		{"bind metadata IP", []forwardReq{{"169.254.169.254", 80}}, "http", "IP address"},
		{"300-character name", []forwardReq{{strings.Repeat("a", 300) + ".example", 80}}, "http", "too long"},
		{"empty label", []forwardReq{{"a..b", 80}}, "http", "a..b"},
		{"bad punycode", []forwardReq{{"xn--zz.example", 80}}, "http", "xn--zz"},
		{"unreserved custom domain", []forwardReq{{"app.example.org", 80}}, "http", "not reserved"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			stdout, stderr, exit, replies := goSession(t, edge, key, tc.forwards, tc.cmd)
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %s, want about a second at most", d)
			}
			if exit == 0 {
				t.Errorf("exit status 0, want non-zero; stdout %q", stdout)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr %q lacks %q", stderr, tc.want)
			}
			if len(stderr) > 1000 {
				t.Errorf("message is %d bytes long: keep it to a sentence", len(stderr))
			}
			for i, r := range replies {
				if r.ok {
					t.Errorf("forward %d was accepted", i)
				}
			}
		})
	}
	t.Run("eleven forwards", func(t *testing.T) {
		// x/crypto's client waits for each global reply; OpenSSH pipelines.
		args := []string{}
		for i := range 11 {
			args = append(args, "-R", fmt.Sprintf("n%d:80:localhost:%s", i, port))
		}
		s := edge.RunSSH(t, key, append(args, "v2@127.0.0.1", "http")...)
		if code := s.Wait(5 * time.Second); code <= 0 {
			t.Fatalf("exit %d, want failure", code)
		}
		if !strings.Contains(s.Stderr.String(), "too many") {
			t.Errorf("stderr %q lacks 'too many'", s.Stderr)
		}
	})
	served, failed, _ := tr.Stop()
	if failed != 0 || served == 0 {
		t.Errorf("healthy tunnel: %d failed, %d served during the bad input", failed, served)
	}
	if n := edge.HTTP().Routes(); n != 1 {
		t.Errorf("%d routes, want only the healthy one", n)
	}
}

// TestHugeCommandFromOpenSSH: a 300 KiB command is longer than an SSH
// packet may be, so the edge cannot read it; the real OpenSSH client is
// told so in a sentence (even at LogLevel ERROR) and exits non-zero,
// instead of dying with "Broken pipe".
func TestHugeCommandFromOpenSSH(t *testing.T) {
	_, port := backend(t)
	edge := newEdge(t, nil)
	key := e2e.NewKey(t, t.TempDir(), "id")
	// Linux caps one argument at 128 KiB: three of 100 KiB.
	arg := strings.Repeat("x", 100<<10)
	s := edge.RunSSH(t, key, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http", arg, arg, arg)
	code := s.Wait(20 * time.Second)
	if code <= 0 {
		t.Fatalf("exit status %d, want a failure; stderr %q", code, s.Stderr)
	}
	stderr := s.Stderr.String()
	if want := "sshgress: your ssh client sent a message of "; !strings.Contains(stderr, want) ||
		!strings.Contains(stderr, "this server accepts commands of at most 4096 bytes, so shorten it.") {
		t.Errorf("stderr %q lacks the edge's sentence", stderr)
	}
	if strings.Contains(stderr, "Broken pipe") {
		t.Errorf("stderr %q: the connection broke instead of closing", stderr)
	}
}

// TestNormalisedNamesRouteIdentically binds names written in odd ways.
func TestNormalisedNamesRouteIdentically(t *testing.T) {
	_, port := backend(t)
	edge := newEdge(t, nil)
	key := e2e.NewKey(t, t.TempDir(), "id")
	s := edge.RunSSH(t, key, "-R", "MixedCase.LocalHost.:80:localhost:"+port, "v2@127.0.0.1", "http")
	url := s.URL(t)
	if !strings.HasPrefix(url, "http://mixedcase.localhost:") {
		t.Fatalf("url %q, want the normalised name mixedcase.localhost", url)
	}
	_, p, _ := strings.Cut(e2e.Host(url), ":")
	for _, host := range []string{"mixedcase.localhost:" + p, "MIXEDCASE.localhost:" + p, "mixedcase.localhost.:" + p, "MixedCase.LocalHost.", "mixedcase.LOCALHOST"} {
		req, _ := http.NewRequest("GET", url+"/", nil)
		req.Host = host
		resp, err := edge.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("Host %q: status %d, want 200", host, resp.StatusCode)
		}
	}
}

func TestPortZeroReplyCarriesPort(t *testing.T) {
	edge := newEdge(t, nil)
	key := e2e.NewKey(t, t.TempDir(), "id")
	cl := goClient(t, edge, key)
	defer cl.Close()
	type res struct {
		ok bool
		p  []byte
	}
	got := make(chan res, 1)
	go func() {
		ok, p, _ := cl.SendRequest("tcpip-forward", true, ssh.Marshal(forwardReq{"", 0}))
		got <- res{ok, p}
	}()
	time.Sleep(50 * time.Millisecond)
	sess, err := cl.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if err := sess.Start("http"); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		if !r.ok || len(r.p) != 4 {
			t.Fatalf("reply ok=%v payload=%x, want ok and a uint32 port", r.ok, r.p)
		}
		// -R 0 is an https endpoint when the edge has a TLS port.
		_, httpsPort, _ := strings.Cut(edge.HTTPSAddr().String(), ":")
		if p := binary.BigEndian.Uint32(r.p); itoa(p) != httpsPort {
			t.Errorf("reply port %d, want the public HTTPS port %s", p, httpsPort)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no forward reply")
	}
}

// TestChannelsAndSubsystemsRefused: the edge is not an open proxy.
func TestChannelsAndSubsystemsRefused(t *testing.T) {
	edge := newEdge(t, nil)
	key := e2e.NewKey(t, t.TempDir(), "id")
	cl := goClient(t, edge, key)
	defer cl.Close()
	for _, typ := range []string{"direct-tcpip", "direct-streamlocal@openssh.com", "x11", "auth-agent@openssh.com", "forwarded-tcpip"} {
		_, _, err := cl.OpenChannel(typ, ssh.Marshal(struct {
			A string
			P uint32
			B string
			Q uint32
		}{"169.254.169.254", 80, "127.0.0.1", 1}))
		var oce *ssh.OpenChannelError
		if !errors.As(err, &oce) {
			t.Errorf("%s: err %v, want a rejection", typ, err)
		}
	}
	// 10k rejected opens do not hurt the connection, and every one of
	// them is refused as prohibited, the first as the last.
	refused := 0
	for i := range 10000 {
		ch, _, err := cl.OpenChannel("direct-tcpip", nil)
		var oce *ssh.OpenChannelError
		switch {
		case err == nil:
			ch.Close()
			t.Errorf("direct-tcpip open %d accepted", i)
		case !errors.As(err, &oce) || oce.Reason != ssh.Prohibited:
			t.Errorf("direct-tcpip open %d: %v, want a rejection as prohibited", i, err)
		default:
			refused++
		}
		if t.Failed() {
			break
		}
	}
	if refused != 10000 {
		t.Fatalf("%d of 10000 direct-tcpip opens refused", refused)
	}
	sess, err := cl.NewSession()
	if err != nil {
		t.Fatalf("session after rejected channels: %v", err)
	}
	var errb bytes.Buffer
	sess.Stderr = &errb
	if err := sess.RequestSubsystem("sftp"); err == nil {
		t.Error("sftp subsystem accepted")
	}
	sess.Close()
}

// bigRSA is a signer for a huge RSA public key it cannot actually sign
// with: the edge must refuse the key before any signature is checked.
type bigRSA struct{ pub ssh.PublicKey }

func (b bigRSA) PublicKey() ssh.PublicKey { return b.pub }
func (b bigRSA) Sign(io.Reader, []byte) (*ssh.Signature, error) {
	return &ssh.Signature{Format: "rsa-sha2-256", Blob: make([]byte, 2048)}, nil
}

// sshKeygen makes a key pair with OpenSSH's ssh-keygen in dir and returns
// the private key's path and the key's SHA256 fingerprint.
func sshKeygen(t *testing.T, dir, name string, args ...string) (path, fingerprint string) {
	t.Helper()
	e2e.RequireTool(t, "ssh-keygen", "openssh-client")
	path = filepath.Join(dir, name)
	if out, err := exec.Command("ssh-keygen", append(args, "-q", "-N", "", "-C", name, "-f", path)...).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen %v: %v\n%s", args, err, out)
	}
	out, err := exec.Command("ssh-keygen", "-l", "-E", "sha256", "-f", path+".pub").Output()
	if err != nil {
		t.Fatalf("ssh-keygen -l: %v", err)
	}
	f := strings.Fields(string(out))
	if len(f) < 2 {
		t.Fatalf("ssh-keygen -l printed %q", out)
	}
	return path, f[1]
}

// verboseSSHArgs are the test client's options with OpenSSH's default
// LogLevel (INFO), at which it prints the edge's banners on stderr; the
// suite's ERROR hides them.
func verboseSSHArgs(edge *e2e.Edge, keyPath string) []string {
	args := edge.SSHArgs(&e2e.Key{Path: keyPath})
	for i, a := range args {
		if a == "LogLevel=ERROR" {
			args[i] = "LogLevel=INFO"
		}
	}
	return args
}

// TestWeakAndHugeKeysRefused: the real OpenSSH client with an RSA-1024 key
// is refused before it signs, and told why and how to make a key that
// works; with RSA-2048 it opens a tunnel. A 16384-bit key (too slow for
// ssh-keygen) is refused before its signature is checked: the x/crypto
// client below sends a garbage signature, so only the log says which rule
// refused it.
func TestWeakAndHugeKeysRefused(t *testing.T) {
	_, port := backend(t)
	edge := newEdge(t, nil)
	dir := t.TempDir()

	t.Run("rsa 1024 with OpenSSH", func(t *testing.T) {
		path, fp := sshKeygen(t, dir, "rsa1024", "-t", "rsa", "-b", "1024")
		cmd := exec.Command("ssh", append(verboseSSHArgs(edge, path), "-R", "80:localhost:"+port, "v2@127.0.0.1", "http")...)
		out, err := runBounded(t, cmd, 20*time.Second)
		if err == nil {
			t.Fatalf("RSA-1024 key logged in:\n%s", out)
		}
		for _, want := range []string{
			"Permission denied (publickey)",
			"sshgress: your key " + fp + " is refused: an RSA key of 1024 bits (2048 to 8192 allowed); make an ed25519 key with: ssh-keygen -t ed25519",
			"Make one with: ssh-keygen -t ed25519",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("ssh's stderr lacks %q:\n%s", want, out)
			}
		}
		logged := waitLog(t, edge, "key="+fp)
		if !strings.Contains(logged, `level=INFO msg="ssh key refused"`) || !strings.Contains(logged, "type=ssh-rsa") ||
			!strings.Contains(logged, "an RSA key of 1024 bits") {
			t.Errorf("refusal log line %q: want the level, the type and the reason", logged)
		}
		pub, _ := os.ReadFile(path + ".pub")
		if blob := strings.Fields(string(pub)); len(blob) < 2 || strings.Contains(edge.Logs.String(), blob[1][:40]) {
			t.Errorf("the log holds the key material, not only its fingerprint")
		}
	})
	t.Run("rsa 2048 with OpenSSH", func(t *testing.T) {
		path, _ := sshKeygen(t, dir, "rsa2048", "-t", "rsa", "-b", "2048")
		cl := edge.RunSSH(t, &e2e.Key{Path: path}, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http")
		if st, _ := edge.Get(t, cl.URL(t)+"/"); st != 200 {
			t.Errorf("tunnel of an RSA-2048 key: status %d, want 200", st)
		}
	})
	t.Run("rsa 16384 refused before its signature", func(t *testing.T) {
		const bits = 16384
		n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), uint(bits)))
		n.SetBit(n, bits-1, 1)
		n.SetBit(n, 0, 1)
		pub, err := ssh.NewPublicKey(&rsa.PublicKey{N: n, E: 65537})
		if err != nil {
			t.Fatal(err)
		}
		_, err = ssh.Dial("tcp", edge.SSHAddr().String(), &ssh.ClientConfig{
			User:            "v2",
			Auth:            []ssh.AuthMethod{ssh.PublicKeys(bigRSA{pub})},
			HostKeyCallback: ssh.InsecureIgnoreHostKey(),
			Timeout:         5 * time.Second,
		})
		if err == nil {
			t.Fatalf("%d-bit RSA key accepted", bits)
		}
		logged := waitLog(t, edge, "key="+ssh.FingerprintSHA256(pub))
		if !strings.Contains(logged, "an RSA key of 16384 bits") {
			t.Errorf("refusal log line %q: want the size rule as the reason", logged)
		}
	})
	t.Run("password", func(t *testing.T) {
		// Password authentication is not offered at all.
		_, err := ssh.Dial("tcp", edge.SSHAddr().String(), &ssh.ClientConfig{
			User: "v2", Auth: []ssh.AuthMethod{ssh.Password("x")},
			HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 5 * time.Second,
		})
		if err == nil {
			t.Fatal("password authentication accepted")
		}
	})
}

// TestNoKeyGetsBanner: the real OpenSSH client with no key at all is told,
// before "Permission denied", that the edge takes keys and how to make one.
func TestNoKeyGetsBanner(t *testing.T) {
	for _, tc := range []struct {
		name      string
		configure func(*config.Config)
		want      string
	}{
		{"anonymous edge", nil, "Any such key is accepted here"},
		{"edge with accounts", func(c *config.Config) {
			c.Accounts = []config.Account{{Name: "ann", Keys: []string{e2e.NewKey(t, t.TempDir(), "ann").AuthorizedKey}}}
		}, "send your public key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			edge := newEdge(t, tc.configure)
			missing := filepath.Join(t.TempDir(), "no-such-key")
			cmd := exec.Command("ssh", append(verboseSSHArgs(edge, missing), "v2@127.0.0.1", "http")...)
			out, err := runBounded(t, cmd, 20*time.Second)
			if err == nil {
				t.Fatalf("logged in without a key:\n%s", out)
			}
			for _, want := range []string{
				"sshgress: this edge logs you in with an SSH key: ed25519 or ECDSA",
				"Make one with: ssh-keygen -t ed25519",
				tc.want,
				"Permission denied (publickey)",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("ssh's stderr lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

// TestUnknownKeyGetsBanner: on an edge with accounts, a key in none of
// them is told so with its fingerprint, and the refusal is logged.
func TestUnknownKeyGetsBanner(t *testing.T) {
	edge := newEdge(t, func(c *config.Config) {
		c.Accounts = []config.Account{{Name: "ann", Keys: []string{e2e.NewKey(t, t.TempDir(), "ann").AuthorizedKey}}}
	})
	path, fp := sshKeygen(t, t.TempDir(), "stranger", "-t", "ed25519")
	cmd := exec.Command("ssh", append(verboseSSHArgs(edge, path), "v2@127.0.0.1", "http")...)
	out, err := runBounded(t, cmd, 20*time.Second)
	if err == nil {
		t.Fatalf("unknown key logged in:\n%s", out)
	}
	if want := "sshgress: your key " + fp + " is not in any account on this edge; send its .pub file to the edge's operator."; !strings.Contains(out, want) {
		t.Errorf("ssh's stderr lacks %q:\n%s", want, out)
	}
	if logged := waitLog(t, edge, "key="+fp); !strings.Contains(logged, `msg="ssh key refused"`) || !strings.Contains(logged, `reason="not in any account"`) {
		t.Errorf("refusal log line %q: want the reason", logged)
	}
}

// runBounded runs cmd to its end, killed after d, and returns its
// combined output.
func runBounded(t *testing.T, cmd *exec.Cmd, d time.Duration) (string, error) {
	t.Helper()
	var out e2e.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.String(), err
	case <-time.After(d):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%s still running after %s:\n%s", cmd.Path, d, out.String())
		return "", nil
	}
}

// waitLog waits, at most 5 s, for an edge log line containing want and
// returns it.
func waitLog(t *testing.T, edge *e2e.Edge, want string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, line := range edge.Logs.Lines() {
			if strings.Contains(line, want) {
				return line
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no edge log line with %q", want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func itoa(p uint32) string { return big.NewInt(int64(p)).String() }

// TestStderrFloodOnForwardedChannel: a client that floods extended data
// (stderr) on a forwarded channel must not stall it: the edge drains it,
// and the response on the channel's stdout still arrives.
func TestStderrFloodOnForwardedChannel(t *testing.T) {
	edge := newEdge(t, nil)
	key := e2e.NewKey(t, t.TempDir(), "id")
	cl := goClient(t, edge, key)
	defer cl.Close()
	// Serve forwarded-tcpip channels ourselves, as a hostile client would.
	go func() {
		for nc := range cl.HandleChannelOpen("forwarded-tcpip") {
			ch, reqs, err := nc.Accept()
			if err != nil {
				continue
			}
			go ssh.DiscardRequests(reqs)
			go func() {
				defer ch.Close()
				// 8 MiB of stderr: four times the channel window.
				junk := bytes.Repeat([]byte("x"), 32<<10)
				for range 256 {
					if _, err := ch.Stderr().Write(junk); err != nil {
						return
					}
				}
				br := make([]byte, 4096)
				ch.Read(br) // the request head
				io.WriteString(ch, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
				ch.CloseWrite()
			}()
		}
	}()
	go cl.SendRequest("tcpip-forward", true, ssh.Marshal(forwardReq{"flood", 80}))
	time.Sleep(50 * time.Millisecond)
	sess, err := cl.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	var out bytes.Buffer
	sess.Stdout = &out
	if err := sess.Start("http"); err != nil {
		t.Fatal(err)
	}
	_, p, _ := strings.Cut(edge.HTTPAddr().String(), ":")
	url := "http://flood.localhost:" + p
	deadline := time.Now().Add(10 * time.Second)
	for edge.HTTP().Routes() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	st, body := edge.Get(t, url+"/")
	if st != 200 || body != "ok" {
		t.Fatalf("GET through a stderr-flooding client: %d %q, want 200 \"ok\"", st, body)
	}
	t.Logf("response after 8 MiB of stderr in %s", time.Since(start))
}
