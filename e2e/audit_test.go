package e2e_test

import (
	"context"
	"crypto/tls"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"

	"github.com/sshgress/sshgress/core/cryptopolicy"
	"github.com/sshgress/sshgress/e2e"
)

// newerThanSSHAudit are algorithms the edge offers that Debian 12's
// ssh-audit (2.5.0, 2021) predates and so marks "[warn] unknown
// algorithm": ML-KEM hybrid key exchange (OpenSSH 9.9, 2024) and the
// strict key exchange marker (the Terrapin countermeasure, OpenSSH 9.6,
// 2023). Newer ssh-audit releases list both as fine. Nothing else may warn.
var newerThanSSHAudit = []string{"mlkem768x25519-sha256", "kex-strict-s-v00@openssh.com"}

// TestSSHAudit runs ssh-audit (Debian's ssh-audit) against the edge's SSH
// port with the default config: no algorithm may be marked [fail], and no
// key exchange, host key, cipher or MAC [warn] but the unknown-algorithm
// notes on newerThanSSHAudit.
func TestSSHAudit(t *testing.T) {
	bin := e2e.RequireTool(t, "ssh-audit", "ssh-audit")
	edge := newEdge(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-n", "-t", "20", "-p", edge.SSHPort, "127.0.0.1").CombinedOutput()
	report := string(out)
	// ssh-audit exits non-zero when it found a warning or failure; the
	// lines below say which.
	if !strings.Contains(report, "(kex) ") {
		t.Fatalf("ssh-audit did not list the key exchanges (err %v):\n%s", err, report)
	}
	// An algorithm's line is "(kex) name -- [level] note", and further
	// notes on it follow on lines of their own ("`- [level] note").
	entry := regexp.MustCompile(`^\((\w+)\) (\S+)`)
	note := regexp.MustCompile(`\[(fail|warn)\] (.*)$`)
	kind, name := "", ""
	for _, line := range strings.Split(report, "\n") {
		if m := entry.FindStringSubmatch(line); m != nil {
			kind, name = m[1], m[2]
		}
		m := note.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if m[1] == "warn" && m[2] == "unknown algorithm" && slices.Contains(newerThanSSHAudit, name) {
			continue
		}
		t.Errorf("ssh-audit (%s) %s: [%s] %s", kind, name, m[1], m[2])
	}
	if t.Failed() {
		t.Logf("ssh-audit report:\n%s", report)
	}
}

// TestTLSOffersNoCBC: a TLS 1.2 client that offers only CBC suites (the
// ones testssl.sh reports as potentially vulnerable to LUCKY13) fails the
// handshake on the TLS port, while the same client with an AEAD suite
// succeeds, so the failure is the suites' and not the name's or the
// certificate's.
func TestTLSOffersNoCBC(t *testing.T) {
	port := protoBackend(t)
	edge := newEdge(t, nil)
	key := e2e.NewKey(t, t.TempDir(), "id")
	s := edge.RunSSH(t, key, "-R", "suites:443:localhost:"+port, "v2@127.0.0.1", "http")
	s.URL(t)
	roots := e2e.RootPool(t, edge.LocalCARoot())
	var cbc []uint16
	for _, list := range [][]*tls.CipherSuite{tls.CipherSuites(), tls.InsecureCipherSuites()} {
		for _, cs := range list {
			if strings.Contains(cs.Name, "_CBC_") && slices.Contains(cs.SupportedVersions, tls.VersionTLS12) {
				cbc = append(cbc, cs.ID)
			}
		}
	}
	if len(cbc) < 6 {
		t.Fatalf("only %d CBC suites to offer", len(cbc))
	}
	dial := func(suites []uint16) error {
		c, err := edge.DialTLS("suites.localhost", &tls.Config{
			RootCAs: roots, MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12, CipherSuites: suites,
		})
		if err == nil {
			defer c.Close()
			if st := c.ConnectionState(); st.Version != tls.VersionTLS12 {
				t.Errorf("negotiated %s, want TLS 1.2", tls.VersionName(st.Version))
			}
		}
		return err
	}
	if err := dial(cbc); err == nil {
		t.Errorf("TLS 1.2 handshake with only CBC suites succeeded")
	} else if !strings.Contains(err.Error(), "handshake failure") {
		t.Errorf("CBC-only handshake: %v, want a handshake failure alert", err)
	}
	if err := dial(cryptopolicy.TLS12CipherSuites); err != nil {
		t.Errorf("TLS 1.2 with the policy's AEAD suites: %v", err)
	}
}

// TestTestsslFindsNoCBC runs testssl.sh (Debian's testssl.sh) against the
// TLS port for its cipher categories and LUCKY13: no CBC suite, LUCKY13
// not vulnerable.
func TestTestsslFindsNoCBC(t *testing.T) {
	bin := e2e.RequireTool(t, "testssl", "testssl.sh")
	port := protoBackend(t)
	edge := newEdge(t, nil)
	key := e2e.NewKey(t, t.TempDir(), "id")
	s := edge.RunSSH(t, key, "-R", "testssl:443:localhost:"+port, "v2@127.0.0.1", "http")
	s.URL(t)
	_, tlsPort, _ := strings.Cut(edge.HTTPSAddr().String(), ":")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--quiet", "--color", "0", "--warnings", "off",
		"--ip", "127.0.0.1", "-s", "-L", "testssl.localhost:"+tlsPort).CombinedOutput()
	report := string(out)
	if err != nil {
		t.Fatalf("testssl: %v\n%s", err, report)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`Obsolete CBC ciphers \(AES, ARIA etc\.\)\s+not offered`),
		regexp.MustCompile(`Triple DES Ciphers / IDEA\s+not offered`),
		regexp.MustCompile(`LUCKY13 \(CVE-2013-0169\), experimental\s+not vulnerable \(OK\)`),
	} {
		if !want.MatchString(report) {
			t.Errorf("testssl report lacks %q", want)
		}
	}
	if strings.Contains(report, "VULNERABLE") || strings.Contains(report, "NOT ok") {
		t.Errorf("testssl reports a weakness")
	}
	if t.Failed() {
		t.Logf("testssl report:\n%s", report)
	}
}

// TestPuTTYConnects: PuTTY's plink (Debian's putty-tools; 0.78, the
// oldest PuTTY the default algorithms serve) opens a tunnel with the
// default config.
func TestPuTTYConnects(t *testing.T) {
	plink := e2e.RequireTool(t, "plink", "putty-tools")
	puttygen := e2e.RequireTool(t, "puttygen", "putty-tools")
	_, port := backend(t)
	edge := newEdge(t, nil)
	dir := t.TempDir()
	key := e2e.NewKey(t, dir, "id")
	ppk := filepath.Join(dir, "id.ppk")
	if out, err := exec.Command(puttygen, key.Path, "-O", "private", "-o", ppk).CombinedOutput(); err != nil {
		t.Fatalf("puttygen: %v\n%s", err, out)
	}
	hostKey, err := os.ReadFile(edge.Cfg.HostKeyPath())
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(hostKey)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(plink, "-ssh", "-batch", "-P", edge.SSHPort, "-i", ppk,
		"-hostkey", ssh.FingerprintSHA256(signer.PublicKey()),
		"-R", "80:localhost:"+port, "v2@127.0.0.1", "http")
	s := &e2e.SSH{Cmd: cmd, Stdout: &e2e.SyncBuffer{}, Stderr: &e2e.SyncBuffer{}}
	cmd.Stdout, cmd.Stderr = s.Stdout, s.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	defer func() { cmd.Process.Kill(); <-exited }()
	deadline := time.Now().Add(15 * time.Second)
	url := ""
	for url == "" {
		if m := regexp.MustCompile(`Forwarding\s+(\S+)`).FindStringSubmatch(s.Stdout.String()); m != nil {
			url = m[1]
			break
		}
		select {
		case <-exited:
			t.Fatalf("plink exited before the banner:\nstdout:\n%s\nstderr:\n%s", s.Stdout, s.Stderr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no banner from plink within 15s:\nstdout:\n%s\nstderr:\n%s", s.Stdout, s.Stderr)
		}
	}
	if st, body := edge.Get(t, url+"/putty"); st != 200 || body != "hello from /putty" {
		t.Errorf("GET through PuTTY's tunnel: %d %q", st, body)
	}
}
