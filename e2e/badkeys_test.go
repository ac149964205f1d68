package e2e_test

import (
	"crypto/rand"
	"crypto/rsa"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"

	"github.com/sshgress/sshgress/core/config"
	"github.com/sshgress/sshgress/e2e"
)

// bigRSA is a signer for a huge RSA public key it cannot actually sign
// with: the edge must refuse the key before any signature is checked.
type bigRSA struct{ pub ssh.PublicKey }

func (b bigRSA) PublicKey() ssh.PublicKey { return b.pub }
func (b bigRSA) Sign(io.Reader, []byte) (*ssh.Signature, error) {
	return &ssh.Signature{Format: "rsa-sha2-256", Blob: make([]byte, 2048)}, nil
}

// sshKeygen makes a key pair with OpenSSH's ssh-keygen in dir and returns
// the private key's path and the key's SHA256 fingerprint.
func sshKeygen(t *testing.T, dir, name string, args ...string) (path, fingerprint string) {
	t.Helper()
	e2e.RequireTool(t, "ssh-keygen", "openssh-client")
	path = filepath.Join(dir, name)
	if out, err := exec.Command("ssh-keygen", append(args, "-q", "-N", "", "-C", name, "-f", path)...).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen %v: %v\n%s", args, err, out)
	}
	out, err := exec.Command("ssh-keygen", "-l", "-E", "sha256", "-f", path+".pub").Output()
	if err != nil {
		t.Fatalf("ssh-keygen -l: %v", err)
	}
	f := strings.Fields(string(out))
	if len(f) < 2 {
		t.Fatalf("ssh-keygen -l printed %q", out)
	}
	return path, f[1]
}

// verboseSSHArgs are the test client's options with OpenSSH's default
// LogLevel (INFO), at which it prints the edge's banners on stderr; the
// suite's ERROR hides them.
func verboseSSHArgs(edge *e2e.Edge, keyPath string) []string {
	args := edge.SSHArgs(&e2e.Key{Path: keyPath})
	for i, a := range args {
		if a == "LogLevel=ERROR" {
			args[i] = "LogLevel=INFO"
		}
	}
	return args
}

// TestWeakAndHugeKeysRefused: the real OpenSSH client with an RSA-1024 key
// is refused before it signs, and told why and how to make a key that
// works; with RSA-2048 it opens a tunnel. A 16384-bit key (too slow for
// ssh-keygen) is refused before its signature is checked: the x/crypto
// client below sends a garbage signature, so only the log says which rule
// refused it.
func TestWeakAndHugeKeysRefused(t *testing.T) {
	_, port := backend(t)
	edge := newEdge(t, nil)
	dir := t.TempDir()

	t.Run("rsa 1024 with OpenSSH", func(t *testing.T) {
		path, fp := sshKeygen(t, dir, "rsa1024", "-t", "rsa", "-b", "1024")
		cmd := exec.Command("ssh", append(verboseSSHArgs(edge, path), "-R", "80:localhost:"+port, "v2@127.0.0.1", "http")...)
		out, err := runBounded(t, cmd, 20*time.Second)
		if err == nil {
			t.Fatalf("RSA-1024 key logged in:\n%s", out)
		}
		for _, want := range []string{
			"Permission denied (publickey)",
			"sshgress: your key " + fp + " is refused: an RSA key of 1024 bits (2048 to 8192 allowed); make an ed25519 key with: ssh-keygen -t ed25519",
			"Make one with: ssh-keygen -t ed25519",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("ssh's stderr lacks %q:\n%s", want, out)
			}
		}
		logged := waitLog(t, edge, "key="+fp)
		if !strings.Contains(logged, `level=INFO msg="ssh key refused"`) || !strings.Contains(logged, "type=ssh-rsa") ||
			!strings.Contains(logged, "an RSA key of 1024 bits") {
			t.Errorf("refusal log line %q: want the level, the type and the reason", logged)
		}
		pub, _ := os.ReadFile(path + ".pub")
		if blob := strings.Fields(string(pub)); len(blob) < 2 || strings.Contains(edge.Logs.String(), blob[1][:40]) {
			t.Errorf("the log holds the key material, not only its fingerprint")
		}
	})
	t.Run("rsa 2048 with OpenSSH", func(t *testing.T) {
		path, _ := sshKeygen(t, dir, "rsa2048", "-t", "rsa", "-b", "2048")
		cl := edge.RunSSH(t, &e2e.Key{Path: path}, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http")
		if st, _ := edge.Get(t, cl.URL(t)+"/"); st != 200 {
			t.Errorf("tunnel of an RSA-2048 key: status %d, want 200", st)
		}
	})
	t.Run("rsa 16384 refused before its signature", func(t *testing.T) {
		const bits = 16384
		n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), uint(bits)))
		n.SetBit(n, bits-1, 1)
		n.SetBit(n, 0, 1)
		pub, err := ssh.NewPublicKey(&rsa.PublicKey{N: n, E: 65537})
		if err != nil {
			t.Fatal(err)
		}
		_, err = ssh.Dial("tcp", edge.SSHAddr().String(), &ssh.ClientConfig{
			User:            "v2",
			Auth:            []ssh.AuthMethod{ssh.PublicKeys(bigRSA{pub})},
			HostKeyCallback: ssh.InsecureIgnoreHostKey(),
			Timeout:         5 * time.Second,
		})
		if err == nil {
			t.Fatalf("%d-bit RSA key accepted", bits)
		}
		logged := waitLog(t, edge, "key="+ssh.FingerprintSHA256(pub))
		if !strings.Contains(logged, "an RSA key of 16384 bits") {
			t.Errorf("refusal log line %q: want the size rule as the reason", logged)
		}
	})
	t.Run("password", func(t *testing.T) {
		// Password authentication is not offered at all.
		_, err := ssh.Dial("tcp", edge.SSHAddr().String(), &ssh.ClientConfig{
			User: "v2", Auth: []ssh.AuthMethod{ssh.Password("x")},
			HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 5 * time.Second,
		})
		if err == nil {
			t.Fatal("password authentication accepted")
		}
	})
}

// TestNoKeyGetsBanner: the real OpenSSH client with no key at all is told,
// before "Permission denied", that the edge takes keys and how to make one.
func TestNoKeyGetsBanner(t *testing.T) {
	for _, tc := range []struct {
		name      string
		configure func(*config.Config)
		want      string
	}{
		{"anonymous edge", nil, "Any such key is accepted here"},
		{"edge with accounts", func(c *config.Config) {
			c.Accounts = []config.Account{{Name: "ann", Keys: []string{e2e.NewKey(t, t.TempDir(), "ann").AuthorizedKey}}}
		}, "send your public key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			edge := newEdge(t, tc.configure)
			missing := filepath.Join(t.TempDir(), "no-such-key")
			cmd := exec.Command("ssh", append(verboseSSHArgs(edge, missing), "v2@127.0.0.1", "http")...)
			out, err := runBounded(t, cmd, 20*time.Second)
			if err == nil {
				t.Fatalf("logged in without a key:\n%s", out)
			}
			for _, want := range []string{
				"sshgress: this edge logs you in with an SSH key: ed25519 or ECDSA",
				"Make one with: ssh-keygen -t ed25519",
				tc.want,
				"Permission denied (publickey)",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("ssh's stderr lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

// TestUnknownKeyGetsBanner: on an edge with accounts, a key in none of
// them is told so with its fingerprint, and the refusal is logged.
func TestUnknownKeyGetsBanner(t *testing.T) {
	edge := newEdge(t, func(c *config.Config) {
		c.Accounts = []config.Account{{Name: "ann", Keys: []string{e2e.NewKey(t, t.TempDir(), "ann").AuthorizedKey}}}
	})
	path, fp := sshKeygen(t, t.TempDir(), "stranger", "-t", "ed25519")
	cmd := exec.Command("ssh", append(verboseSSHArgs(edge, path), "v2@127.0.0.1", "http")...)
	out, err := runBounded(t, cmd, 20*time.Second)
	if err == nil {
		t.Fatalf("unknown key logged in:\n%s", out)
	}
	if want := "sshgress: your key " + fp + " is not in any account on this edge; send its .pub file to the edge's operator."; !strings.Contains(out, want) {
		t.Errorf("ssh's stderr lacks %q:\n%s", want, out)
	}
	if logged := waitLog(t, edge, "key="+fp); !strings.Contains(logged, `msg="ssh key refused"`) || !strings.Contains(logged, `reason="not in any account"`) {
		t.Errorf("refusal log line %q: want the reason", logged)
	}
}

// waitLog waits, at most 5 s, for an edge log line containing want and
// returns it.
func waitLog(t *testing.T, edge *e2e.Edge, want string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, line := range edge.Logs.Lines() {
			if strings.Contains(line, want) {
				return line
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no edge log line with %q", want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
