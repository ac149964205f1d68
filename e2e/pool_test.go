package e2e_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/config"
	"github.com/sshgress/sshgress/e2e"
)

// closableSaying is saying whose service can be stopped mid-test: stop
// closes its listener and its connections, so the member's dials fail.
func closableSaying(t *testing.T, word string) (port string, stop func()) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, word)
	}))
	t.Cleanup(srv.Close)
	_, port, _ = net.SplitHostPort(srv.Listener.Addr().String())
	return port, srv.Close
}

// spread GETs url n times and counts the bodies; any status but 200 fails
// the test, since a pool must hide a leaving member from visitors.
func spread(t *testing.T, edge *e2e.Edge, url string, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for i := range n {
		st, body := edge.Get(t, url)
		if st != http.StatusOK {
			t.Fatalf("request %d of %d: %d %q, want 200 from a pool member", i+1, n, st, body)
		}
		got[body]++
	}
	return got
}

// TestPoolHTTP: three ssh clients of one account bind one name with
// --pooling-enabled and share it; requests are spread over all three; a
// member whose service stops, and one whose client is killed, are skipped
// without an error a visitor could see; another account and a bind without
// the flag are refused with their sentences; the name is released with
// the last member.
func TestPoolHTTP(t *testing.T) {
	dir := t.TempDir()
	k1, k2, k3, bob := e2e.NewKey(t, dir, "ann1"), e2e.NewKey(t, dir, "ann2"), e2e.NewKey(t, dir, "ann3"), e2e.NewKey(t, dir, "bob")
	edge := newEdge(t, func(c *config.Config) {
		c.Accounts = []config.Account{
			{Name: "ann", Keys: []string{k1.AuthorizedKey, k2.AuthorizedKey, k3.AuthorizedKey}},
			{Name: "bob", Keys: []string{bob.AuthorizedKey}},
		}
	})
	words := []string{"one", "two", "three"}
	stops := map[string]func(){}
	var members []*e2e.SSH
	var url string
	for i, k := range []*e2e.Key{k1, k2, k3} {
		port, stop := closableSaying(t, words[i])
		stops[words[i]] = stop
		s := edge.RunSSH(t, k, "-R", "pool:80:localhost:"+port, "v2@127.0.0.1", "http", "--pooling-enabled")
		got := s.URL(t)
		if url != "" && got != url {
			t.Fatalf("member %d got %s, want the pool's %s", i+1, got, url)
		}
		url = got
		s.WaitOutput(t, "pool of "+string(rune('1'+i)), 5*time.Second)
		members = append(members, s)
	}

	members[0].WaitOutput(t, "a tunnel joined pool.localhost: pool of 3 now", 5*time.Second)
	counts := spread(t, edge, url+"/", 300)
	t.Logf("300 requests over a pool of 3: %v", counts)
	for _, w := range words {
		if counts[w] < 60 {
			t.Errorf("member %q served %d of 300 requests, want at least 20%% (60); all: %v", w, counts[w], counts)
		}
	}

	t.Run("tunnels lists every member", func(t *testing.T) {
		s := edge.RunSSH(t, k1, "v2@127.0.0.1", "tunnels")
		if code := s.Wait(10 * time.Second); code != 0 || strings.Count(s.Stdout.String(), url) != 3 {
			t.Errorf("tunnels: exit %d, want 0 and the three members of %s listed:\n%s", code, url, s.Stdout)
		}
	})
	for _, tc := range []struct {
		name string
		key  *e2e.Key
		args []string
		want string
	}{
		{"another account", bob, []string{"-R", "pool:80:localhost:1", "v2@127.0.0.1", "http", "--pooling-enabled"},
			"pool.localhost is in use by another tunnel"},
		{"same account without the flag", k1, []string{"-R", "pool:80:localhost:1", "v2@127.0.0.1", "http"},
			"pool.localhost is served by a pool of your tunnels (--pooling-enabled); add --pooling-enabled to join the pool"},
		{"same account with other flags", k1, []string{"-R", "pool:443:localhost:1", "v2@127.0.0.1", "http", "--pooling-enabled"},
			"must be opened with the same flags"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := edge.RunSSH(t, tc.key, tc.args...)
			if code := s.Wait(10 * time.Second); code <= 0 {
				t.Fatalf("exit %d, want refused", code)
			}
			if !strings.Contains(s.Stderr.String(), tc.want) {
				t.Errorf("stderr %q, want %q", s.Stderr, tc.want)
			}
		})
	}

	// A member whose local service stopped stays in the pool, but its
	// dials fail: every request is retried on another member.
	stops["three"]()
	counts = spread(t, edge, url+"/", 60)
	if counts["three"] != 0 || counts["one"] == 0 || counts["two"] == 0 {
		t.Errorf("with member three's service stopped: %v, want only one and two", counts)
	}
	if !strings.Contains(edge.Logs.String(), "pool member unreachable; request sent to another member") {
		t.Errorf("no request was retried on another member")
	}

	// A killed client leaves the pool; visitors see no error meanwhile.
	members[1].Kill()
	counts = spread(t, edge, url+"/", 60)
	if counts["one"] != 60 {
		t.Errorf("after member two was killed: %v, want all 60 from one", counts)
	}
	members[0].WaitOutput(t, "a tunnel left pool.localhost: pool of 2 now", 5*time.Second)

	members[0].Kill()
	members[2].Kill()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, _ := edge.Get(t, url+"/")
		if st == http.StatusNotFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the last member left 10s ago, but %s still answers %d, want 404 (name released)", url, st)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// TestPoolNeedsName: http --help lists --pooling-enabled, and a pooled
// forward that names nothing is refused with a sentence, since a random
// name cannot be shared.
func TestPoolNeedsName(t *testing.T) {
	edge := newEdge(t, nil)
	key := e2e.NewKey(t, t.TempDir(), "id")
	h := edge.RunSSH(t, key, "v2@127.0.0.1", "http", "--help")
	if code := h.Wait(10 * time.Second); code != 0 || !strings.Contains(h.Stdout.String(), "--pooling-enabled") {
		t.Errorf("http --help: exit %d, want 0 and --pooling-enabled listed:\n%s", code, h.Stdout)
	}
	s := edge.RunSSH(t, key, "-R", "80:localhost:1", "v2@127.0.0.1", "http", "--pooling-enabled")
	if code := s.Wait(10 * time.Second); code <= 0 {
		t.Fatalf("exit %d, want refused", code)
	}
	if !strings.Contains(s.Stderr.String(), "--pooling-enabled shares one name among several tunnels, so it needs a name") {
		t.Errorf("stderr %q, want the sentence asking for a name", s.Stderr)
	}
}

// sayingTCP is a TCP service that writes its word to each connection and
// closes it; accepted counts its connections.
func sayingTCP(t *testing.T, word string) (port string, stop func(), accepted *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted = &atomic.Int64{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			io.WriteString(c, word)
			c.Close()
		}
	}()
	_, port, _ = net.SplitHostPort(ln.Addr().String())
	return port, func() { ln.Close() }, accepted
}

// readWord connects to addr and reads what the service says until it
// closes, bounded.
func readWord(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	b, _ := io.ReadAll(c)
	return string(b)
}

// TestPoolTCPReserved: two clients of the account that reserved a TCP
// address pool it; connections are spread over both, one whose service
// stopped is retried on the other, another account cannot join, and the
// port is freed with the last member.
func TestPoolTCPReserved(t *testing.T) {
	dir := t.TempDir()
	k1, k2, bob := e2e.NewKey(t, dir, "ann1"), e2e.NewKey(t, dir, "ann2"), e2e.NewKey(t, dir, "bob")
	reserved := freePort(t)
	edge := endpointEdge(t, func(c *config.Config) {
		c.Accounts = []config.Account{
			{Name: "ann", Keys: []string{k1.AuthorizedKey, k2.AuthorizedKey}, TCPAddresses: []string{"localhost:" + reserved}},
			{Name: "bob", Keys: []string{bob.AuthorizedKey}},
		}
	})
	a, _, aCount := sayingTCP(t, "a")
	b, stopB, bCount := sayingTCP(t, "b")
	var members []*e2e.SSH
	for i, fwd := range []struct {
		key  *e2e.Key
		port string
	}{{k1, a}, {k2, b}} {
		s := edge.RunSSH(t, fwd.key, "-R", "localhost:"+reserved+":localhost:"+fwd.port, "v2@127.0.0.1", "tcp", "--pooling-enabled")
		if got, want := s.URL(t), "tcp://localhost:"+reserved; got != want {
			t.Fatalf("member %d url %q, want %q", i+1, got, want)
		}
		s.WaitOutput(t, "pool of "+string(rune('1'+i)), 5*time.Second)
		members = append(members, s)
	}
	members[0].WaitOutput(t, "a tunnel joined localhost:"+reserved+": pool of 2 now", 5*time.Second)
	addr := "127.0.0.1:" + reserved
	got := map[string]int{}
	for range 40 {
		got[readWord(t, addr)]++
	}
	t.Logf("40 connections over a pool of 2: %v", got)
	if got["a"] < 8 || got["b"] < 8 || got["a"]+got["b"] != 40 {
		t.Errorf("40 connections: %v, want every one served and each member at least 20%% (8)", got)
	}

	s := edge.RunSSH(t, bob, "-R", "localhost:"+reserved+":localhost:"+a, "v2@127.0.0.1", "tcp", "--pooling-enabled")
	if code := s.Wait(10 * time.Second); code <= 0 || !strings.Contains(s.Stderr.String(), "not reserved for you") {
		t.Errorf("another account: exit %d, stderr %q; want refused as not reserved", code, s.Stderr)
	}
	s = edge.RunSSH(t, k1, "-R", "localhost:"+reserved+":localhost:"+a, "v2@127.0.0.1", "tcp")
	if code := s.Wait(10 * time.Second); code <= 0 || !strings.Contains(s.Stderr.String(), "add --pooling-enabled to join the pool") {
		t.Errorf("without the flag: exit %d, stderr %q; want the sentence about joining the pool", code, s.Stderr)
	}

	stopB()
	before := aCount.Load()
	for i := range 20 {
		if w := readWord(t, addr); w != "a" {
			t.Fatalf("connection %d with b's service stopped read %q, want \"a\" (retried on the other member)", i+1, w)
		}
	}
	if n := aCount.Load() - before; n != 20 || bCount.Load() == 0 {
		t.Errorf("a accepted %d of 20, b %d in all; want a all 20", n, bCount.Load())
	}
	members[1].WaitOutput(t, "sent to another tunnel of the pool", 5*time.Second)

	members[0].Kill()
	members[1].Kill()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("the last member left 10s ago, but %s still accepts connections", addr)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// TestPoolTLS: two clients pool a tls passthrough name; each connection
// reaches one member's own service (its certificate verifies against that
// member's CA alone), and connections are spread over both.
func TestPoolTLS(t *testing.T) {
	pa, rootsA := tlsEchoServer(t, "app.localhost")
	pb, rootsB := tlsEchoServer(t, "app.localhost")
	edge := endpointEdge(t, nil)
	key := e2e.NewKey(t, t.TempDir(), "id")
	for i, port := range []string{pa, pb} {
		s := edge.RunSSH(t, key, "-R", "app:443:localhost:"+port, "v2@127.0.0.1", "tls", "--pooling-enabled")
		if url := s.URL(t); !strings.HasPrefix(url, "tls://app.localhost:") {
			t.Fatalf("member %d url %q, want tls://app.localhost:PORT", i+1, url)
		}
		s.WaitOutput(t, "pool of "+string(rune('1'+i)), 5*time.Second)
	}
	got := map[string]int{}
	for i := range 20 {
		var which string
		cfg := &tls.Config{InsecureSkipVerify: true, VerifyConnection: func(cs tls.ConnectionState) error {
			for name, roots := range map[string]*x509.CertPool{"a": rootsA, "b": rootsB} {
				if _, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, DNSName: "app.localhost"}); err == nil {
					which = name
					return nil
				}
			}
			return errors.New("the certificate is neither member's")
		}}
		c, err := edge.DialTLS("app.localhost", cfg)
		if err != nil {
			t.Fatalf("connection %d: handshake through the pool: %v", i+1, err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 4)
		if _, err := io.WriteString(c, "ping"); err != nil {
			t.Fatalf("connection %d: write: %v", i+1, err)
		}
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
			t.Fatalf("connection %d: echo %q, %v from member %s; want \"ping\"", i+1, buf, err, which)
		}
		c.Close()
		got[which]++
	}
	t.Logf("20 connections over a pool of 2: %v", got)
	if got["a"] < 4 || got["b"] < 4 {
		t.Errorf("20 connections: %v, want each member at least 20%% (4)", got)
	}
}
