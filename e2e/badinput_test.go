package e2e_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"

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
