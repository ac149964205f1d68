package e2e_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"

	"github.com/sshgress/sshgress/e2e"
)

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
