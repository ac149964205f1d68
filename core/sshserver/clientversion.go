package sshserver

import (
	"bytes"
	"errors"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"
)

// The edge offers only AES-GCM by default (OpenSSH prefers chacha20 and
// AES-CTR when they are offered, and both cost far more per byte here;
// docs/performance.md). PuTTY before 0.78 has no AES-GCM, so it would not
// connect at all: for those clients alone, found by their identification
// line, chacha20-poly1305 is offered too. Every other client's choice is
// unchanged, so an OpenSSH client still gets AES-GCM.
//
// The client's identification line arrives before any algorithm is
// negotiated, but x/crypto reads it inside NewServerConn, after the
// config is fixed. So the edge sends its own line first, reads the
// client's as x/crypto would, and hands x/crypto a connection that
// replays what was read and drops x/crypto's copy of the server's line:
// on the wire nothing changes and nothing waits longer.

// versionConn is a net.Conn whose reads first return replay and whose
// first write, if it is exactly skip (the server's identification line
// already sent), is dropped.
type versionConn struct {
	net.Conn
	replay *bytes.Reader
	skip   []byte
}

func (c *versionConn) Read(p []byte) (int, error) {
	if c.replay.Len() > 0 {
		return c.replay.Read(p)
	}
	return c.Conn.Read(p)
}

func (c *versionConn) Write(p []byte) (int, error) {
	if c.skip != nil {
		skip := c.skip
		c.skip = nil
		if bytes.Equal(p, skip) {
			return len(p), nil
		}
	}
	return c.Conn.Write(p)
}

// Limits of an identification exchange, as in x/crypto's readVersion (RFC
// 4253 4.2): at most 255 bytes a line and 1024 lines before the "SSH-" one.
const (
	maxVersionLine  = 255
	maxVersionLines = 1024
)

// exchangeVersion writes the server's identification line to nc and reads
// the client's, returning it (without CR LF) and the connection to hand to
// x/crypto. A failure leaves nothing to hand over: the caller closes nc.
func exchangeVersion(nc net.Conn, serverVersion string) (client string, conn net.Conn, err error) {
	line := []byte(serverVersion + "\r\n")
	if _, err := nc.Write(line); err != nil {
		return "", nil, err
	}
	var read, cur []byte
	var b [1]byte
	for lines := 0; ; {
		if _, err := io.ReadFull(nc, b[:]); err != nil {
			return "", nil, err
		}
		read = append(read, b[0])
		if b[0] != '\n' {
			if cur = append(cur, b[0]); len(cur) > maxVersionLine {
				return "", nil, errors.New("sshserver: identification line too long")
			}
			continue
		}
		if bytes.HasPrefix(cur, []byte("SSH-")) {
			client = string(bytes.TrimSuffix(cur, []byte("\r")))
			break
		}
		if lines++; lines >= maxVersionLines {
			return "", nil, errors.New("sshserver: too many lines before the identification line")
		}
		cur = cur[:0]
	}
	return client, &versionConn{Conn: nc, replay: bytes.NewReader(read), skip: line}, nil
}

// legacyPuTTY reports whether an identification line is PuTTY's before
// 0.78 (released 2022), the first with AES-GCM: "SSH-2.0-PuTTY_Release_0.76".
func legacyPuTTY(version string) bool {
	rest, ok := strings.CutPrefix(version, "SSH-2.0-PuTTY_Release_0.")
	if !ok {
		return false
	}
	minor, _, _ := strings.Cut(rest, " ")
	n, err := strconv.Atoi(minor)
	return err == nil && n < 78
}

// withChaCha20 returns a copy of cfg that also offers chacha20-poly1305,
// or cfg itself when it already offers a cipher that old PuTTY has
// (chacha20 or AES-CTR).
func withChaCha20(cfg *ssh.ServerConfig) *ssh.ServerConfig {
	for _, c := range cfg.Ciphers {
		if c == ssh.CipherChaCha20Poly1305 || strings.HasPrefix(c, "aes") && strings.HasSuffix(c, "-ctr") {
			return cfg
		}
	}
	c := *cfg
	c.Ciphers = append(slices.Clip(cfg.Ciphers), ssh.CipherChaCha20Poly1305)
	return &c
}
