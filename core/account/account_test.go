package account

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"
)

// newKey returns a fresh public key and its authorized_keys line.
func newKey(t *testing.T, comment string) (ssh.PublicKey, string) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
	if comment != "" {
		line += " " + comment
	}
	return key, line
}

func TestNewDirectory(t *testing.T) {
	annKey, annLine := newKey(t, "ann@laptop")
	bobKey, bobLine := newKey(t, "")
	fileKey, fileLine := newKey(t, "from-file")
	strangerKey, _ := newKey(t, "")

	dir := t.TempDir()
	keysFile := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(keysFile, []byte("# bob's keys\n\n"+fileLine+"\n   \n"+bobLine+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	d, err := NewDirectory("tunnel.example.com", []Spec{
		{
			Name:         "ann",
			Keys:         []string{annLine, "# a comment", annLine},
			Domains:      []string{"ann", "Bücher.example", "ANN.tunnel.example.com", "app.ann.tunnel.example.com."},
			TCPAddresses: []string{"TCP.example.com.:020002"},
		},
		{Name: "bob", KeysFile: keysFile, Domains: []string{"bob"}},
	})
	if err != nil {
		t.Fatalf("NewDirectory error = %v, want nil", err)
	}
	if got, want := d.Len(), 2; got != want {
		t.Errorf("Len() = %d, want %d", got, want)
	}
	byKey := []struct {
		key  ssh.PublicKey
		want string
	}{
		{annKey, "ann"}, {bobKey, "bob"}, {fileKey, "bob"}, {strangerKey, ""},
	}
	for _, tt := range byKey {
		got := ""
		if a := d.ByKey(tt.key); a != nil {
			got = a.Name
		}
		if got != tt.want {
			t.Errorf("ByKey(%s) = %q, want %q", ssh.FingerprintSHA256(tt.key), got, tt.want)
		}
	}
	owners := []struct {
		name, want string
	}{
		{"ann.tunnel.example.com", "ann"},
		{"xn--bcher-kva.example", "ann"},
		{"app.ann.tunnel.example.com", "ann"},
		{"bob.tunnel.example.com", "bob"},
		{"carol.tunnel.example.com", ""},
		{"tunnel.example.com", ""},
	}
	for _, tt := range owners {
		got := ""
		if a := d.Owner(tt.name); a != nil {
			got = a.Name
		}
		if got != tt.want {
			t.Errorf("Owner(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
	tcp := []struct {
		addr, want string
	}{
		{"tcp.example.com:20002", "ann"},
		{"Tcp.Example.com.:20002", "ann"},
		{"tcp.example.com:20003", ""},
		{"garbage", ""},
	}
	for _, tt := range tcp {
		got := ""
		if a := d.TCPOwner(tt.addr); a != nil {
			got = a.Name
		}
		if got != tt.want {
			t.Errorf("TCPOwner(%q) = %q, want %q", tt.addr, got, tt.want)
		}
	}
	ann := d.ByKey(annKey)
	if got, want := strings.Join(ann.Domains, " "), "ann.tunnel.example.com xn--bcher-kva.example app.ann.tunnel.example.com"; got != want {
		t.Errorf("ann.Domains = %q, want %q (normalised, deduplicated)", got, want)
	}
	if got, want := strings.Join(ann.TCPAddresses, " "), "tcp.example.com:20002"; got != want {
		t.Errorf("ann.TCPAddresses = %q, want %q", got, want)
	}
	if got := len(d.Accounts()); got != 2 {
		t.Errorf("len(Accounts()) = %d, want 2", got)
	}
}

func TestNewDirectoryErrors(t *testing.T) {
	_, k1 := newKey(t, "")
	_, k2 := newKey(t, "")
	missing := filepath.Join(t.TempDir(), "nope")
	big := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(big, make([]byte, MaxKeysFileSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		specs   []Spec
		wantErr string
	}{
		{"empty name", []Spec{{Keys: []string{k1}}}, "accounts[0]: the name is empty"},
		{"duplicate name", []Spec{{Name: "ann", Keys: []string{k1}}, {Name: "ann", Keys: []string{k2}}}, `account "ann": the name is used by two accounts`},
		{"bad key", []Spec{{Name: "ann", Keys: []string{"ssh-ed25519 notbase64"}}}, `account "ann": keys[0] line 1: not an authorized_keys line`},
		{"bad second line", []Spec{{Name: "ann", Keys: []string{k1 + "\nnonsense"}}}, `keys[0] line 2`},
		{"key options", []Spec{{Name: "ann", Keys: []string{`from="10.0.0.0/8" ` + k1}}}, "options"},
		{"missing keys_file", []Spec{{Name: "ann", KeysFile: missing}}, `account "ann": keys_file "` + missing},
		{"huge keys_file", []Spec{{Name: "ann", KeysFile: big}}, "larger than"},
		{"no keys", []Spec{{Name: "ann", Keys: []string{"# none"}}}, `account "ann": no keys`},
		{"key in two accounts", []Spec{{Name: "ann", Keys: []string{k1}}, {Name: "bob", Keys: []string{k2, k1}}}, `account "bob": keys[1] line 1: the key SHA256:`},
		{"bad domain", []Spec{{Name: "ann", Keys: []string{k1}, Domains: []string{"ok", "a..b"}}}, `account "ann": domains[1] "a..b": `},
		{"ip domain", []Spec{{Name: "ann", Keys: []string{k1}, Domains: []string{"1.2.3.4"}}}, "IP address"},
		{"domain in two accounts", []Spec{{Name: "ann", Keys: []string{k1}, Domains: []string{"app"}}, {Name: "bob", Keys: []string{k2}, Domains: []string{"APP.localhost"}}}, `account "bob": domains[0] "APP.localhost": app.localhost is also reserved by account "ann"`},
		{"base domain", []Spec{{Name: "ann", Keys: []string{k1}, Domains: []string{"Localhost."}}}, "the base domain itself"},
		{"tcp no port", []Spec{{Name: "ann", Keys: []string{k1}, TCPAddresses: []string{"tcp.example.com"}}}, `tcp_addresses[0] "tcp.example.com"`},
		{"tcp port 0", []Spec{{Name: "ann", Keys: []string{k1}, TCPAddresses: []string{"tcp.example.com:0"}}}, "invalid port"},
		{"tcp port too big", []Spec{{Name: "ann", Keys: []string{k1}, TCPAddresses: []string{"tcp.example.com:65536"}}}, "invalid port"},
		{"tcp in two accounts", []Spec{{Name: "ann", Keys: []string{k1}, TCPAddresses: []string{"t.example:1"}}, {Name: "bob", Keys: []string{k2}, TCPAddresses: []string{"T.example:01"}}}, `also reserved by account "ann"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := NewDirectory("localhost", tt.specs)
			if err == nil {
				t.Fatalf("NewDirectory = %v, nil; want error containing %q", d, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("NewDirectory error = %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestNilAndEmptyDirectory(t *testing.T) {
	key, _ := newKey(t, "")
	for _, d := range []*Directory{nil, mustDirectory(t)} {
		if d.Len() != 0 || d.ByKey(key) != nil || d.Owner("a.localhost") != nil || d.TCPOwner("a:1") != nil || d.Accounts() != nil {
			t.Errorf("directory %v: want no accounts", d)
		}
	}
}

func mustDirectory(t *testing.T, specs ...Spec) *Directory {
	t.Helper()
	d, err := NewDirectory("localhost", specs)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestAnonymous(t *testing.T) {
	a, b := Anonymous(), Anonymous()
	if !a.Anonymous || a.Name != AnonymousName || len(a.Domains) != 0 {
		t.Errorf("Anonymous() = %+v, want an anonymous account named %q with no reservations", a, AnonymousName)
	}
	if a == b {
		t.Errorf("Anonymous() returned the same pointer twice, want a new account each call")
	}
}
