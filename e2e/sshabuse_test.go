package e2e_test

import (
	"bufio"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/config"
	"github.com/sshgress/sshgress/e2e"
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

// TestFailedLoginsPenalised: real failed logins (OpenSSH with an unknown
// key) from one source put it in the penalty box: its next connections
// are closed before the edge sends its version line, for at least the
// configured penalty, while another source still gets the version line
// and a full login attempt.
func TestFailedLoginsPenalised(t *testing.T) {
	const failures, penalty = 5, 3 * time.Second
	edge := newEdge(t, func(c *config.Config) {
		c.Accounts = []config.Account{{Name: "ann", Keys: []string{e2e.NewKey(t, t.TempDir(), "ann").AuthorizedKey}}}
		c.Limits.FailuresBeforePenalty = failures
		c.Limits.PenaltyWindow = penalty
	})
	stranger := e2e.NewKey(t, t.TempDir(), "stranger")
	login := func(src string) string {
		cmd := exec.Command("ssh", append(edge.SSHArgs(stranger), "-b", src, "v2@127.0.0.1", "http")...)
		out, err := runBounded(t, cmd, 20*time.Second)
		if err == nil {
			t.Fatalf("unknown key logged in from %s:\n%s", src, out)
		}
		return out
	}
	// versionLine connects from src and returns what the edge sends first:
	// its version line, or "" if it closes the connection without a byte.
	versionLine := func(src string) string {
		nc := dialFrom(t, src, edge.SSHAddr().String())
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		line, err := bufio.NewReader(nc).ReadString('\n')
		if err != nil && err != io.EOF {
			t.Fatalf("read from the edge, from %s: %v", src, err)
		}
		return line
	}
	var start time.Time
	for i := range failures {
		if i == failures-1 {
			// The penalty starts once the edge has counted this failure.
			start = time.Now()
		}
		if out := login("127.0.0.20"); !strings.Contains(out, "Permission denied (publickey)") {
			t.Fatalf("attempt %d was not a refused login:\n%s", i, out)
		}
	}
	// The client prints its refusal before the edge sees it hang up and
	// counts the failure; wait for the edge's own word that it has (it logs
	// a failed handshake after counting it), not for a guessed time.
	counted := func() int {
		return strings.Count(edge.Logs.String(), `msg="ssh handshake failed" part=ssh remote=127.0.0.20:`)
	}
	for wait := time.Now().Add(10 * time.Second); counted() < failures; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(wait) {
			t.Fatalf("the edge logged %d failed handshakes from 127.0.0.20, want %d", counted(), failures)
		}
	}
	if got := versionLine("127.0.0.20"); got != "" {
		t.Errorf("penalised source got %q, want the connection closed before the version line", got)
	}
	if out := login("127.0.0.20"); strings.Contains(out, "Permission denied") {
		t.Errorf("penalised source reached authentication:\n%s", out)
	}
	if got := versionLine("127.0.0.21"); !strings.HasPrefix(got, "SSH-2.0-sshgress") {
		t.Errorf("other source got %q, want the edge's version line", got)
	}
	if out := login("127.0.0.21"); !strings.Contains(out, "Permission denied (publickey)") {
		t.Errorf("other source did not reach authentication:\n%s", out)
	}
	// The penalty ends, and not before its length has passed.
	deadline := time.Now().Add(penalty + 15*time.Second)
	for versionLine("127.0.0.20") == "" {
		if time.Now().After(deadline) {
			t.Fatalf("penalised source still refused %s after its penalty of %s", time.Since(start), penalty)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if waited := time.Since(start); waited < penalty {
		t.Errorf("penalised source admitted again after %s, before its penalty of %s", waited, penalty)
	}
}
