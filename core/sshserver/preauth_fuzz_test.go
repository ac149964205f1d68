package sshserver

import (
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"

	"github.com/sshgress/sshgress/core/command"
)

func fuzzServer(f *testing.F) *Server {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		f.Fatal(err)
	}
	cmds, err := command.NewSet(command.Options{Host: "edge"}, command.Command{Name: "http", Summary: "http", Ports: "80"})
	if err != nil {
		f.Fatal(err)
	}
	s, err := New(Config{
		HostKey: signer, Commands: cmds, AllowAnonymous: true,
		HandshakeTimeout: 200 * time.Millisecond,
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		f.Fatal(err)
	}
	return s
}

// FuzzPreAuth feeds arbitrary bytes to the server before authentication:
// it must never panic and must let go of the connection within its
// handshake deadline.
func FuzzPreAuth(f *testing.F) {
	s := fuzzServer(f)
	f.Add([]byte("SSH-2.0-OpenSSH_9.2\r\n"))
	f.Add([]byte("SSH-2.0-x\r\n\x00\x00\x00\x0c\x0a\x14" + string(make([]byte, 16))))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Add([]byte("SSH-1.99-old\r\n"))
	f.Add(make([]byte, 300))
	f.Fuzz(func(t *testing.T, in []byte) {
		client, server := net.Pipe()
		go io.Copy(io.Discard, client)
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.handle(server, netip.MustParseAddr("192.0.2.1"))
		}()
		client.SetWriteDeadline(time.Now().Add(time.Second))
		client.Write(in)
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			t.Fatal("the server held a pre-auth connection past its deadline")
		}
		client.Close()
	})
}
