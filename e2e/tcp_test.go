package e2e_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"

	"github.com/sshgress/sshgress/core/config"
	"github.com/sshgress/sshgress/e2e"
	"github.com/sshgress/sshgress/plugins/tcp"
	tlsplugin "github.com/sshgress/sshgress/plugins/tls"
	"github.com/sshgress/sshgress/sdk"
)

// endpointEdge starts an edge with the tcp and tls plugins enabled (child
// processes of the sshgress binary, as in production).
func endpointEdge(t *testing.T, configure func(*config.Config)) *e2e.Edge {
	t.Helper()
	e2e.RequireSSH(t)
	bin := e2e.SharedBinary(t)
	return e2e.StartEdge(t, e2e.EdgeOptions{
		Binary:  bin,
		Bundled: []sdk.Manifest{tcp.New().Manifest(), tlsplugin.New().Manifest()},
		Configure: func(c *config.Config) {
			yes := true
			c.Plugins = map[string]config.Plugin{"tcp": {Enabled: &yes}, "tls": {Enabled: &yes}}
			if configure != nil {
				configure(c)
			}
		},
	})
}

// echoServer is a TCP service that echoes every byte and half-closes when
// its visitor does. accepted counts its connections.
func echoServer(t *testing.T) (port string, accepted func() int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	// A counter, not a channel: a full channel would stop the accept loop
	// (it did after 1024 echoes, under the integrity test's load).
	var n atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			go func() {
				defer c.Close()
				// Not io.Copy(c, c): that splices through pipes Go caches
				// process-wide, which the fd checks would count as leaks.
				io.Copy(c, struct{ io.Reader }{c})
				c.(*net.TCPConn).CloseWrite()
			}()
		}
	}()
	_, port, _ = net.SplitHostPort(ln.Addr().String())
	return port, func() int { return int(n.Load()) }
}

// tcpAddr turns tcp://host:port into 127.0.0.1:port (every test name
// resolves to the loopback edge).
func tcpAddr(t *testing.T, url string) string {
	t.Helper()
	hp, ok := strings.CutPrefix(url, "tcp://")
	if !ok {
		t.Fatalf("url %q is not tcp://", url)
	}
	_, port, err := net.SplitHostPort(hp)
	if err != nil {
		t.Fatalf("url %q: %v", url, err)
	}
	return net.JoinHostPort("127.0.0.1", port)
}

// roundTrip sends n pattern bytes to addr, half-closes, reads the echo and
// compares checksums.
func roundTrip(t *testing.T, c net.Conn, n int64) {
	t.Helper()
	c.SetDeadline(time.Now().Add(50 * time.Second))
	sent := sha256.New()
	werr := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.MultiWriter(c, sent), io.LimitReader(&pattern{}, n))
		if err == nil {
			err = c.(interface{ CloseWrite() error }).CloseWrite()
		}
		werr <- err
	}()
	got := sha256.New()
	m, err := io.Copy(got, c)
	if err != nil {
		t.Fatalf("read echo: %v after %d bytes", err, m)
	}
	if err := <-werr; err != nil {
		t.Fatalf("write: %v", err)
	}
	if m != n || !bytes.Equal(got.Sum(nil), sent.Sum(nil)) {
		t.Fatalf("echo: got %d bytes sha256 %x, want %d bytes sha256 %x", m, got.Sum(nil), n, sent.Sum(nil))
	}
}

func bulkSize(full int64) int64 {
	if raceEnabled {
		return full / 16
	}
	return full
}

func TestTCPEcho(t *testing.T) {
	echo, _ := echoServer(t)
	edge := endpointEdge(t, nil)
	key := e2e.NewKey(t, t.TempDir(), "id")
	s := edge.RunSSH(t, key, "-R", "0:localhost:"+echo, "v2@127.0.0.1", "tcp")
	url := s.URL(t)
	if !strings.HasPrefix(url, "tcp://localhost:2") {
		t.Fatalf("url %q, want tcp://localhost:PORT from 20000-29999", url)
	}
	c, err := net.Dial("tcp", tcpAddr(t, url))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	n := bulkSize(256 << 20)
	roundTrip(t, c, n)
	t.Logf("%d MiB echoed in %v", n>>20, time.Since(start))
	// The owner's session shows one line per TCP connection.
	c.Close()
	s.WaitOutput(t, "TCP  127.0.0.1", 3*time.Second)
	s.WaitOutput(t, " MiB in, ", 3*time.Second)

	// The port is freed when the tunnel closes.
	s.Kill()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", tcpAddr(t, url), time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("%s still accepts after the tunnel closed", url)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

func TestTCPReservedAddress(t *testing.T) {
	echo, _ := echoServer(t)
	dir := t.TempDir()
	ann, bob := e2e.NewKey(t, dir, "ann"), e2e.NewKey(t, dir, "bob")
	reserved := freePort(t)
	edge := endpointEdge(t, func(c *config.Config) {
		c.Accounts = []config.Account{
			{Name: "ann", Keys: []string{ann.AuthorizedKey}, TCPAddresses: []string{"localhost:" + reserved}},
			{Name: "bob", Keys: []string{bob.AuthorizedKey}},
		}
	})
	t.Run("owner", func(t *testing.T) {
		s := edge.RunSSH(t, ann, "-R", "localhost:"+reserved+":localhost:"+echo, "v2@127.0.0.1", "tcp")
		if got, want := s.URL(t), "tcp://localhost:"+reserved; got != want {
			t.Fatalf("url %q, want %q", got, want)
		}
		c, err := net.Dial("tcp", "127.0.0.1:"+reserved)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		roundTrip(t, c, 1<<20)
		s.Kill()
	})
	for _, tc := range []struct {
		name string
		key  *e2e.Key
		fwd  string
		want string
	}{
		{"other account", bob, "localhost:" + reserved, "not reserved for you"},
		{"unreserved port", ann, "localhost:" + freePort(t), "remote port 0"},
		{"name with port 0", ann, "example.org:0", "leave out the name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := edge.RunSSH(t, tc.key, "-R", tc.fwd+":localhost:"+echo, "v2@127.0.0.1", "tcp")
			if code := s.Wait(10 * time.Second); code <= 0 {
				t.Fatalf("exit %d, want a failure", code)
			}
			if !strings.Contains(s.Stderr.String(), tc.want) {
				t.Errorf("stderr %q lacks %q", s.Stderr, tc.want)
			}
		})
	}
}

func TestTCPCIDR(t *testing.T) {
	echo, accepted := echoServer(t)
	edge := endpointEdge(t, nil)
	key := e2e.NewKey(t, t.TempDir(), "id")
	for _, tc := range []struct {
		name  string
		flags []string
		admit bool
	}{
		{"deny loopback", []string{"--cidr-deny", "127.0.0.0/8"}, false},
		{"allow elsewhere", []string{"--cidr-allow", "10.0.0.0/8"}, false},
		{"allow loopback address", []string{"--cidr-allow", "127.0.0.1", "--cidr-allow", "10.0.0.0/8"}, true},
		{"deny wins", []string{"--cidr-allow", "127.0.0.0/8", "--cidr-deny", "127.0.0.1/32"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"-R", "0:localhost:" + echo, "v2@127.0.0.1", "tcp"}, tc.flags...)
			s := edge.RunSSH(t, key, args...)
			url := s.URL(t)
			if !strings.Contains(s.Stdout.String(), "Protected   CIDR") {
				t.Errorf("banner lacks the CIDR rules:\n%s", s.Stdout)
			}
			before := accepted()
			c, err := net.Dial("tcp", tcpAddr(t, url))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			fmt.Fprint(c, "ping")
			buf := make([]byte, 4)
			_, err = io.ReadFull(c, buf)
			if tc.admit {
				if err != nil || string(buf) != "ping" {
					t.Fatalf("admitted visitor: read %q, %v; want the echo", buf, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("refused visitor read %q, want the connection closed", buf)
			}
			s.WaitOutput(t, "refused by the CIDR rules", 3*time.Second)
			if got := accepted(); got != before {
				t.Errorf("backend accepted %d connections from a refused visitor", got-before)
			}
			s.Kill()
		})
	}
}

func TestTCPProxyProtocol(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pl := &proxyproto.Listener{Listener: ln, ReadHeaderTimeout: 5 * time.Second}
	t.Cleanup(func() { pl.Close() })
	go func() {
		for {
			c, err := pl.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				// The PROXY header is parsed on the first read.
				line, _ := bufio.NewReader(c).ReadString('\n')
				fmt.Fprintf(c, "%s %s", c.RemoteAddr(), line)
			}()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	edge := endpointEdge(t, nil)
	key := e2e.NewKey(t, t.TempDir(), "id")
	for _, v := range []string{"1", "2"} {
		t.Run("v"+v, func(t *testing.T) {
			s := edge.RunSSH(t, key, "-R", "0:localhost:"+port, "v2@127.0.0.1", "tcp", "--proxy-proto", v)
			c, err := net.Dial("tcp", tcpAddr(t, s.URL(t)))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			fmt.Fprint(c, "hello\n")
			got, _ := io.ReadAll(c)
			if want := c.LocalAddr().String() + " hello\n"; string(got) != want {
				t.Fatalf("backend saw %q, want %q (the visitor's address from the PROXY header)", got, want)
			}
			s.Kill()
		})
	}
}
