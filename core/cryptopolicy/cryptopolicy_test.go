package cryptopolicy

import (
	"crypto/tls"
	"slices"
	"strings"
	"testing"

	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"
)

// TestNamesAreSupported: every name the policy offers or allows is one
// x/crypto implements and does not call insecure, and no list repeats a
// name or holds SHA-1, CBC or RC4.
func TestNamesAreSupported(t *testing.T) {
	sup, insecure := ssh.SupportedAlgorithms(), ssh.InsecureAlgorithms()
	for _, tc := range []struct {
		f              Family
		supported, bad []string
	}{
		{KeyExchanges, sup.KeyExchanges, insecure.KeyExchanges},
		{Ciphers, sup.Ciphers, insecure.Ciphers},
		{MACs, sup.MACs, insecure.MACs},
	} {
		for i, name := range tc.f.Allowed() {
			if !slices.Contains(tc.supported, name) || slices.Contains(tc.bad, name) {
				t.Errorf("%s %q: not among x/crypto's supported, secure algorithms", tc.f.Name, name)
			}
			if slices.Index(tc.f.Allowed(), name) < i {
				t.Errorf("%s %q listed twice", tc.f.Name, name)
			}
			for _, weak := range []string{"sha1", "cbc", "arcfour"} {
				if strings.Contains(name, weak) {
					t.Errorf("%s %q is %s", tc.f.Name, name, weak)
				}
			}
		}
	}
	for _, id := range TLS12CipherSuites {
		name := tls.CipherSuiteName(id)
		if strings.Contains(name, "CBC") || !strings.HasPrefix(name, "TLS_ECDHE_") {
			t.Errorf("TLS suite %s: want ECDHE with an AEAD", name)
		}
		for _, s := range tls.InsecureCipherSuites() {
			if s.ID == id {
				t.Errorf("TLS suite %s is on Go's insecure list", name)
			}
		}
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		names []string
		want  string
	}{
		{KeyExchanges.Defaults(), ""},
		{[]string{ssh.KeyExchangeECDHP256, ssh.KeyExchangeCurve25519}, ""},
		{nil, "must list at least one key exchange algorithm"},
		{[]string{"diffie-hellman-group1-sha1"}, `"diffie-hellman-group1-sha1" is not allowed (choose from mlkem768x25519-sha256, curve25519-sha256,`},
		{[]string{ssh.KeyExchangeCurve25519, ssh.KeyExchangeCurve25519}, `"curve25519-sha256" is listed twice`},
	}
	for _, tc := range tests {
		err := KeyExchanges.Check(tc.names)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("Check(%q) = %v, want nil", tc.names, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("Check(%q) = %v, want %q", tc.names, err, tc.want)
		}
	}
	// Defaults hands out a copy.
	d := Ciphers.Defaults()
	d[0] = "changed"
	if Ciphers.Default[0] == "changed" {
		t.Error("Defaults shares the package's slice")
	}
}
