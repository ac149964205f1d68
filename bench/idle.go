package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"
)

// idleTunnels holds many Go SSH connections to one edge, each with one
// http tunnel and its session, doing nothing.
type idleTunnels struct {
	mu      sync.Mutex
	clients []*ssh.Client
	opened  int // tunnels ever started, to pick the next account
	signers []ssh.Signer
	addr    string
}

// idlePerAccount is how many idle tunnels share one account: below the
// edge's default per-account limit (20), which exists to stop abuse, not
// to bound this test.
const idlePerAccount = 16

// newIdleTunnels makes one key per account for up to max tunnels; call
// accountsYAML for the edge's config before connecting to addr.
func newIdleTunnels(addr string, max int) (*idleTunnels, error) {
	t := &idleTunnels{addr: addr}
	for i := 0; i < (max+idlePerAccount-1)/idlePerAccount; i++ {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("bench: idle tunnels key: %w", err)
		}
		s, err := ssh.NewSignerFromKey(priv)
		if err != nil {
			return nil, fmt.Errorf("bench: idle tunnels key: %w", err)
		}
		t.signers = append(t.signers, s)
	}
	return t, nil
}

// accountsYAML is an edge config with one account per key.
func (t *idleTunnels) accountsYAML() string {
	var b strings.Builder
	b.WriteString("accounts:\n")
	for i, s := range t.signers {
		fmt.Fprintf(&b, "  - name: idle%d\n    keys:\n      - %s", i, ssh.MarshalAuthorizedKey(s.PublicKey()))
	}
	return b.String()
}

// count returns how many tunnels are open.
func (t *idleTunnels) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.clients)
}

// growTo opens tunnels until n are open, a few at a time.
func (t *idleTunnels) growTo(ctx context.Context, n int) error {
	need := n - t.count()
	if need <= 0 {
		return nil
	}
	const workers = 8
	jobs := make(chan struct{})
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				t.mu.Lock()
				signer := t.signers[(t.opened/idlePerAccount)%len(t.signers)]
				t.opened++
				t.mu.Unlock()
				c, err := t.open(ctx, signer)
				if err != nil {
					errs <- err
					return
				}
				t.mu.Lock()
				t.clients = append(t.clients, c)
				t.mu.Unlock()
			}
		}()
	}
	var err error
feed:
	for i := 0; i < need; i++ {
		select {
		case jobs <- struct{}{}:
		case err = <-errs:
			break feed
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	return err
}

// forwardRequest is the tcpip-forward payload (RFC 4254 7.1).
type forwardRequest struct {
	Addr string
	Port uint32
}

// open makes one connection like `ssh -R 80:localhost:X v2@edge http`:
// the forward request first (its reply is held until the exec arrives, so
// it is sent from a goroutine), then a session running "http".
func (t *idleTunnels) open(ctx context.Context, signer ssh.Signer) (*ssh.Client, error) {
	cfg := &ssh.ClientConfig{
		User:            "v2",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), // loopback edge started by the harness
		Timeout:         10 * time.Second,
	}
	nc, err := net.DialTimeout("tcp", t.addr, 10*time.Second)
	if err != nil {
		return nil, fmt.Errorf("bench: idle tunnel: %w", err)
	}
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	cc := &writeCounter{Conn: nc}
	sc, chans, reqs, err := ssh.NewClientConn(cc, t.addr, cfg)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("bench: idle tunnel handshake: %w", err)
	}
	client := ssh.NewClient(sc, chans, reqs)
	fail := func(err error) (*ssh.Client, error) {
		client.Close()
		return nil, err
	}
	type reply struct {
		ok  bool
		err error
	}
	replies := make(chan reply, 1)
	before := cc.writes.Load()
	go func() {
		ok, _, err := client.SendRequest("tcpip-forward", true, ssh.Marshal(&forwardRequest{Addr: "localhost", Port: 80}))
		replies <- reply{ok, err}
	}()
	// OpenSSH sends the forward before it opens the session, and the edge
	// relies on that order: wait until the request is on the wire (nothing
	// else writes on this fresh connection meanwhile).
	for i := 0; cc.writes.Load() == before; i++ {
		if i > 50000 {
			return fail(errors.New("bench: idle tunnel forward: request not sent in 5s"))
		}
		time.Sleep(100 * time.Microsecond)
	}
	sess, err := client.NewSession()
	if err != nil {
		return fail(fmt.Errorf("bench: idle tunnel session: %w", err))
	}
	var out tailBuffer
	sess.Stdout, sess.Stderr = &out, &out
	if err := sess.Start("http"); err != nil {
		return fail(fmt.Errorf("bench: idle tunnel exec: %w", err))
	}
	select {
	case r := <-replies:
		if r.err != nil {
			return fail(fmt.Errorf("bench: idle tunnel forward: %w (session said %q)", r.err, out.String()))
		}
		if !r.ok {
			return fail(fmt.Errorf("bench: idle tunnel forward refused (session said %q)", out.String()))
		}
	case <-time.After(15 * time.Second):
		return fail(errors.New("bench: idle tunnel forward: no reply in 15s"))
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	nc.SetDeadline(time.Time{})
	return client, nil
}

// close ends every connection.
func (t *idleTunnels) close() {
	t.mu.Lock()
	list := t.clients
	t.clients = nil
	t.mu.Unlock()
	for _, c := range list {
		c.Close()
	}
}

// writeCounter counts writes to the connection.
type writeCounter struct {
	net.Conn
	writes atomic.Int64
}

func (w *writeCounter) Write(p []byte) (int, error) {
	n, err := w.Conn.Write(p)
	w.writes.Add(1)
	return n, err
}

// tailBuffer keeps the first 512 bytes written to it, for error messages;
// it never blocks the session.
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if room := 512 - len(t.b); room > 0 {
		t.b = append(t.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
