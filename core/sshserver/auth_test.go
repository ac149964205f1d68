package sshserver

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"flag"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"

	"github.com/sshgress/sshgress/core/account"
	"github.com/sshgress/sshgress/core/command"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// rsaPublicKey returns an RSA public key whose modulus has exactly bits
// bits. checkKeyType reads only the size, so the modulus need not be a
// product of two primes (generating a real 16384-bit key takes minutes).
func rsaPublicKey(t *testing.T, bits int) ssh.PublicKey {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), uint(bits)))
	if err != nil {
		t.Fatal(err)
	}
	n.SetBit(n, bits-1, 1)
	n.SetBit(n, 0, 1)
	pub, err := ssh.NewPublicKey(&rsa.PublicKey{N: n, E: 65537})
	if err != nil {
		t.Fatal(err)
	}
	if got := pub.(ssh.CryptoPublicKey).CryptoPublicKey().(*rsa.PublicKey).N.BitLen(); got != bits {
		t.Fatalf("made a %d-bit modulus, want %d", got, bits)
	}
	return pub
}

// certificate returns an OpenSSH certificate for pub, signed by a fresh CA.
func certificate(t *testing.T, pub ssh.PublicKey) ssh.PublicKey {
	t.Helper()
	_, caKey, _ := ed25519.GenerateKey(rand.Reader)
	ca, err := ssh.NewSignerFromKey(caKey)
	if err != nil {
		t.Fatal(err)
	}
	cert := &ssh.Certificate{Key: pub, CertType: ssh.UserCert, ValidPrincipals: []string{"v2"}, ValidBefore: ssh.CertTimeInfinity}
	if err := cert.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestCheckKeyType(t *testing.T) {
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	mustKey := func(k any) ssh.PublicKey {
		pub, err := ssh.NewPublicKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pub
	}
	tests := []struct {
		name string
		key  ssh.PublicKey
		want string // "" accepted, else part of the reason
	}{
		{"ed25519", mustKey(edPub), ""},
		{"ecdsa p256", mustKey(&ecKey.PublicKey), ""},
		{"rsa 1024", rsaPublicKey(t, 1024), "an RSA key of 1024 bits (2048 to 8192 allowed)"},
		{"rsa 2047", rsaPublicKey(t, 2047), "an RSA key of 2047 bits"},
		{"rsa 2048", rsaPublicKey(t, 2048), ""},
		{"rsa 4096", rsaPublicKey(t, 4096), ""},
		{"rsa 8192", rsaPublicKey(t, 8192), ""},
		{"rsa 8193", rsaPublicKey(t, 8193), "an RSA key of 8193 bits"},
		{"rsa 16384", rsaPublicKey(t, 16384), "an RSA key of 16384 bits"},
		{"certificate", certificate(t, mustKey(edPub)), "key type ssh-ed25519-cert-v01@openssh.com is not accepted"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checkKeyType(tc.key)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("accepted, want refused with %q", tc.want)
			case tc.want != "" && !strings.Contains(userReason(err), tc.want):
				t.Fatalf("reason %q, want %q", userReason(err), tc.want)
			}
		})
	}
}

// TestAuthBannerGolden keeps the pre-authentication banner, for an edge
// with accounts and for the no-config anonymous one, in testdata/.
func TestAuthBannerGolden(t *testing.T) {
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	pub, _ := ssh.NewPublicKey(edPub)
	dir, err := account.NewDirectory("localhost", []account.Spec{{Name: "ann", Keys: []string{string(ssh.MarshalAuthorizedKey(pub))}}})
	if err != nil {
		t.Fatal(err)
	}
	cmds, err := command.NewSet(command.Options{}, command.Command{Name: "http"})
	if err != nil {
		t.Fatal(err)
	}
	hostKey, _ := ssh.NewSignerFromKey(ed25519.NewKeyFromSeed(make([]byte, 32)))
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"banner_accounts", Config{Accounts: dir}},
		{"banner_anonymous", Config{AllowAnonymous: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.HostKey, tc.cfg.Commands = hostKey, cmds
			s, err := New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			got := s.authBanner(nil)
			path := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("banner:\n%s\nwant (%s):\n%s", got, path, want)
			}
			if !strings.Contains(got, "ssh-keygen -t ed25519") {
				t.Errorf("banner does not say how to make a key")
			}
		})
	}
}
