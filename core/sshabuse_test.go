package core_test

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/sshgress/sshgress/core/config"
	"github.com/sshgress/sshgress/core/internal/e2e"
)

// dialFrom opens a TCP connection to addr from a chosen loopback source.
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", src, err)
	}
	return c
}

// TestHalfOpenHandshakes: 300 connections that never finish the handshake
// do not stop a real user from logging in, and are closed at the deadline.
func TestHalfOpenHandshakes(t *testing.T) {
	_, port := backend(t)
	edge := newEdge(t, func(c *config.Config) { c.SSH.HandshakeTimeout = 1500 * time.Millisecond })
	var idle []net.Conn
	for i := range 300 {
		// Spread over a few attacker addresses; none is the user's.
		idle = append(idle, dialFrom(t, "127.0.0."+itoa(uint32(2+i%10)), edge.SSHAddr().String()))
	}
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	key := e2e.NewKey(t, t.TempDir(), "id")
	s := edge.RunSSH(t, key, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http")
	if st, _ := edge.Get(t, s.URL(t)+"/"); st != 200 {
		t.Fatalf("legit user's tunnel: status %d", st)
	}
	// Every half-open connection is closed by the edge within the deadline
	// (plus slack); those over the per-source cap were closed at once.
	var wg sync.WaitGroup
	var mu sync.Mutex
	open := 0
	for _, c := range idle {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetReadDeadline(time.Now().Add(4 * time.Second))
			buf := make([]byte, 512)
			for {
				if _, err := c.Read(buf); err != nil {
					if ne, ok := err.(net.Error); ok && ne.Timeout() {
						mu.Lock()
						open++
						mu.Unlock()
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	if open != 0 {
		t.Fatalf("%d of 300 half-open connections still open after the handshake deadline", open)
	}
}

// TestFailedLoginsPenalised: a source that keeps failing to log in is
// refused for a while; other sources are not.
func TestFailedLoginsPenalised(t *testing.T) {
	edge := newEdge(t, func(c *config.Config) {
		c.Accounts = []config.Account{{Name: "ann", Keys: []string{e2e.NewKey(t, t.TempDir(), "ann").AuthorizedKey}}}
	})
	stranger := e2e.NewKey(t, t.TempDir(), "stranger")
	login := func(src string, key *e2e.Key) error {
		nc := dialFrom(t, src, edge.SSHAddr().String())
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		c, _, _, err := ssh.NewClientConn(nc, edge.SSHAddr().String(), &ssh.ClientConfig{
			User: "v2", Auth: []ssh.AuthMethod{ssh.PublicKeys(key.Signer)},
			HostKeyCallback: ssh.InsecureIgnoreHostKey(),
		})
		if c != nil {
			c.Close()
		}
		return err
	}
	for i := range 20 {
		if err := login("127.0.0.20", stranger); err == nil {
			t.Fatalf("attempt %d: unknown key logged in", i)
		}
	}
	start := time.Now()
	err := login("127.0.0.20", stranger)
	if err == nil {
		t.Fatal("penalised source logged in")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("penalised source took %s to be refused; want an immediate close", d)
	}
	// Another source is unaffected (it fails only because its key is unknown,
	// after a full handshake, not because it is refused at connect).
	if err := login("127.0.0.21", stranger); err == nil {
		t.Fatal("unknown key logged in")
	} else if _, ok := err.(*ssh.ServerAuthError); !ok && !isAuthFailure(err) {
		t.Errorf("other source was refused before authentication: %v", err)
	}
}

func isAuthFailure(err error) bool {
	return err != nil && (contains(err.Error(), "unable to authenticate") || contains(err.Error(), "no supported methods remain"))
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
