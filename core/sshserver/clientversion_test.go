package sshserver

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"
)

func TestLegacyPuTTY(t *testing.T) {
	for _, tc := range []struct {
		version string
		want    bool
	}{
		{"SSH-2.0-PuTTY_Release_0.76", true},
		{"SSH-2.0-PuTTY_Release_0.77", true},
		{"SSH-2.0-PuTTY_Release_0.70 comment", true},
		{"SSH-2.0-PuTTY_Release_0.78", false},
		{"SSH-2.0-PuTTY_Release_0.81", false},
		{"SSH-2.0-PuTTY_Release_1.0", false},
		{"SSH-2.0-PuTTY_Snapshot_2024", false},
		{"SSH-2.0-OpenSSH_9.2p1 Debian-2", false},
		{"SSH-2.0-Go", false},
		{"SSH-2.0-PuTTY_Release_0.x", false},
	} {
		if got := legacyPuTTY(tc.version); got != tc.want {
			t.Errorf("legacyPuTTY(%q) = %v, want %v", tc.version, got, tc.want)
		}
	}
}

// versionExchange runs exchangeVersion against a peer that reads the
// server line and sends clientSends, then reads back what x/crypto would.
func versionExchange(t *testing.T, clientSends string) (version string, replayed string, serverWrote string, err error) {
	t.Helper()
	srv, cli := net.Pipe()
	defer cli.Close()
	wrote := make(chan string, 1)
	go func() {
		buf := make([]byte, 64)
		n, _ := io.ReadFull(cli, buf[:len("SSH-2.0-test\r\n")])
		wrote <- string(buf[:n])
		io.WriteString(cli, clientSends)
	}()
	srv.SetDeadline(time.Now().Add(5 * time.Second))
	version, vc, err := exchangeVersion(srv, "SSH-2.0-test")
	serverWrote = <-wrote
	if err != nil {
		return "", "", serverWrote, err
	}
	// x/crypto's own exchange through vc: its copy of the server line is
	// dropped, and it reads the client's lines again.
	if n, err := vc.Write([]byte("SSH-2.0-test\r\n")); err != nil || n != len("SSH-2.0-test\r\n") {
		t.Fatalf("the server line's second write: %d, %v", n, err)
	}
	var got bytes.Buffer
	buf := make([]byte, 1)
	for !strings.HasSuffix(got.String(), version+"\r\n") && !strings.HasSuffix(got.String(), version+"\n") {
		if _, err := vc.Read(buf); err != nil {
			t.Fatalf("replay: %v after %q", err, got.String())
		}
		got.Write(buf)
	}
	return version, got.String(), serverWrote, nil
}

func TestExchangeVersion(t *testing.T) {
	v, replayed, wrote, err := versionExchange(t, "hello\r\nSSH-2.0-PuTTY_Release_0.76\r\n")
	if err != nil {
		t.Fatal(err)
	}
	if wrote != "SSH-2.0-test\r\n" {
		t.Errorf("server wrote %q first, want its identification line", wrote)
	}
	if v != "SSH-2.0-PuTTY_Release_0.76" {
		t.Errorf("client version %q", v)
	}
	if replayed != "hello\r\nSSH-2.0-PuTTY_Release_0.76\r\n" {
		t.Errorf("replayed %q, want every byte read, for x/crypto to read again", replayed)
	}
	if _, _, _, err := versionExchange(t, strings.Repeat("x", 300)+"\n"); err == nil {
		t.Error("a 300-byte line was accepted")
	}
}

// TestOldPuTTYGetsChaCha20: a client calling itself PuTTY 0.76 (which has
// chacha20 but no AES-GCM) connects; the same client under another name
// does not, so every other client still negotiates from the default list.
func TestOldPuTTYGetsChaCha20(t *testing.T) {
	addr := startTestServer(t)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	dial := func(version string) error {
		c, err := ssh.Dial("tcp", addr, &ssh.ClientConfig{
			User:            "v2",
			Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
			HostKeyCallback: ssh.InsecureIgnoreHostKey(), // test server on loopback
			ClientVersion:   version,
			Config:          ssh.Config{Ciphers: []string{ssh.CipherChaCha20Poly1305}},
			Timeout:         5 * time.Second,
		})
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := dial("SSH-2.0-PuTTY_Release_0.76"); err != nil {
		t.Errorf("PuTTY 0.76 with chacha20 only: %v, want it to connect", err)
	}
	if err := dial("SSH-2.0-OpenSSH_9.2"); err == nil || !strings.Contains(err.Error(), "no common algorithm") {
		t.Errorf("another client with chacha20 only: %v, want no common cipher", err)
	}
}
