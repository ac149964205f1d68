package e2e_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/config"
	"github.com/sshgress/sshgress/e2e"
	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"
)

// TestAdminBadInput: each bad request gets its status and a sentence, and
// changes nothing.
func TestAdminBadInput(t *testing.T) {
	t.Parallel()
	edge, _ := adminEdge(t, nil)
	api := operatorAPI(t, edge)
	api.must(t, http.StatusCreated, "POST", "/api/v1/accounts", map[string]string{"name": "carol"}, nil)
	_, daveKey := newAccountWithKey(t, api, "dave")
	api.must(t, http.StatusCreated, "POST", "/api/v1/accounts/dave/domains", map[string]string{"domain": "daveapp"}, nil)

	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	rsaPub, err := ssh.NewPublicKey(&rsaKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	rsaLine := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(rsaPub)))
	// x/crypto no longer marshals DSA keys: write the ssh-dss wire form.
	dsaLine := "ssh-dss " + base64.StdEncoding.EncodeToString(ssh.Marshal(struct {
		Name       string
		P, Q, G, Y *big.Int
	}{ssh.KeyAlgoDSA, big.NewInt(23), big.NewInt(11), big.NewInt(4), big.NewInt(8)}))
	keyBody := func(line string) map[string]string { return map[string]string{"public_key": line} }

	tests := []struct {
		name, method, path string
		body               any
		status             int
		want               string
	}{
		{"rsa 1024", "POST", "/api/v1/accounts/carol/keys", keyBody(rsaLine), 400, "RSA key of 1024 bits"},
		{"dsa", "POST", "/api/v1/accounts/carol/keys", keyBody(dsaLine), 400, "ssh-dss is not accepted"},
		{"malformed key", "POST", "/api/v1/accounts/carol/keys", keyBody("ssh-ed25519 AAAA"), 400, "not a public key line"},
		{"key on another account", "POST", "/api/v1/accounts/carol/keys", keyBody(daveKey.PublicKey), 409, "already a key of another account"},
		{"key to an unknown account", "POST", "/api/v1/accounts/nobody/keys", keyBody(newKeyLine(t)), 404, `no account "nobody"`},
		{"domain held by another", "POST", "/api/v1/accounts/carol/domains", map[string]string{"domain": "daveapp"}, 409, "reserved by another account"},
		{"system host", "POST", "/api/v1/accounts/carol/domains", map[string]string{"domain": "auth"}, 403, "auth.localhost is served by the edge itself"},
		{"key to a config account", "POST", "/api/v1/accounts/ops/keys", keyBody(newKeyLine(t)), 409, "config file"},
		{"config account created", "POST", "/api/v1/accounts", map[string]string{"name": "ops"}, 409, "config file"},
		{"config account deleted", "DELETE", "/api/v1/accounts/ops", nil, 409, "config file"},
		{"existing account created", "POST", "/api/v1/accounts", map[string]string{"name": "carol"}, 409, `"carol" already exists`},
		{"unknown field", "POST", "/api/v1/accounts", `{"name": "eve", "admin": true}`, 400, `unknown field "admin"`},
		{"body over the limit", "POST", "/api/v1/accounts/carol/keys", keyBody(newKeyLine(t) + " " + strings.Repeat("x", 70<<10)), 413, "larger than 65536 bytes"},
	}
	snapshot := func() string {
		var b strings.Builder
		for _, p := range []string{"/api/v1/accounts", "/api/v1/accounts/carol/keys", "/api/v1/accounts/dave/keys"} {
			_, data := api.call(t, "GET", p, nil)
			b.Write(data)
		}
		return b.String()
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := snapshot()
			api.refused(t, tt.status, tt.want, tt.method, tt.path, tt.body)
			if after := snapshot(); after != before {
				t.Errorf("the refused request changed the store:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// TestAdminInvites: an invite minted through the API registers a key over
// `ssh … register CODE` once; an expired or used code is refused with a
// sentence and registers nothing.
func TestAdminInvites(t *testing.T) {
	t.Parallel()
	edge, _ := adminEdge(t, func(c *config.Config) { c.SSH.Registration = config.RegistrationInvite })
	api := operatorAPI(t, edge)
	api.must(t, http.StatusCreated, "POST", "/api/v1/accounts", map[string]string{"name": "carol"}, nil)
	dir := t.TempDir()
	k1, k2, k3 := e2e.NewKey(t, dir, "k1"), e2e.NewKey(t, dir, "k2"), e2e.NewKey(t, dir, "k3")
	type invite struct {
		Code    string
		Expires time.Time
	}
	register := func(key *e2e.Key, code string) (*e2e.SSH, int) {
		s := edge.RunSSH(t, key, "v2@127.0.0.1", "register", code)
		st := s.Wait(15 * time.Second)
		if st == -1 {
			t.Fatalf("register still runs after 15s")
		}
		return s, st
	}
	fingerprints := func() []string {
		var keys []apiKey
		api.must(t, http.StatusOK, "GET", "/api/v1/accounts/carol/keys", nil, &keys)
		var out []string
		for _, k := range keys {
			out = append(out, k.Fingerprint)
		}
		return out
	}

	var short invite
	api.must(t, http.StatusCreated, "POST", "/api/v1/invites", map[string]string{"account": "carol", "ttl": "1s"}, &short)
	if wait := time.Until(short.Expires) + 200*time.Millisecond; wait > 5*time.Second {
		t.Fatalf("a 1s invite expires at %s", short.Expires)
	} else {
		time.Sleep(wait)
	}
	s, st := register(k1, short.Code)
	if st == 0 || !strings.Contains(s.Stderr.String(), "this invite code is not valid") {
		t.Errorf("an expired code: exit %d\n%s%s", st, s.Stdout, s.Stderr)
	}
	if fps := fingerprints(); len(fps) != 0 {
		t.Errorf("an expired code registered %v", fps)
	}

	var inv invite
	api.must(t, http.StatusCreated, "POST", "/api/v1/invites", map[string]string{"account": "carol", "ttl": "1h"}, &inv)
	if s, st := register(k2, inv.Code); st != 0 || !strings.Contains(s.Stdout.String(), "account carol") {
		t.Fatalf("register with a fresh code: exit %d\n%s%s", st, s.Stdout, s.Stderr)
	}
	s, st = register(k3, inv.Code)
	if st == 0 || !strings.Contains(s.Stderr.String(), "this invite code is not valid") {
		t.Errorf("a used code: exit %d\n%s%s", st, s.Stdout, s.Stderr)
	}
	if fps := fingerprints(); !slices.Equal(fps, []string{ssh.FingerprintSHA256(k2.Signer.PublicKey())}) {
		t.Errorf("carol's keys after one good and one reused code: %v", fps)
	}
	if logs := edge.Logs.String(); strings.Contains(logs, inv.Code) || strings.Contains(logs, short.Code) {
		t.Errorf("the edge logged an invite code")
	}
}
