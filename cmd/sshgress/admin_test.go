package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"

	"github.com/sshgress/sshgress/core/admin"
	"github.com/sshgress/sshgress/core/admin/admintest"
)

const testOperatorToken = "operator-token-0123456789abcdef"

// adminServer serves the real API handler over real HTTP with the
// in-memory store and writes the operator token to a file.
func adminServer(t *testing.T) (*httptest.Server, *admintest.Store, string) {
	t.Helper()
	st := admintest.New()
	api, err := admin.New(admin.Config{Store: st, Tunnels: st, OperatorToken: testOperatorToken, BaseDomain: "tunnel.test"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	tf := filepath.Join(t.TempDir(), "admin_token")
	if err := os.WriteFile(tf, []byte(testOperatorToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return srv, st, tf
}

// cli runs "sshgress admin …" through run, as main does.
func cli(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := runWithStdin(append([]string{"admin"}, args...), strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func runWithStdin(args []string, stdin *strings.Reader, stdout, stderr *bytes.Buffer) int {
	if args[0] == "admin" {
		return runAdmin(args[1:], stdin, stdout, stderr)
	}
	return run(args, stdout, stderr)
}

func testKeyLine(t *testing.T) string {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}

func TestAdminCLIEverySubcommand(t *testing.T) {
	srv, st, tf := adminServer(t)
	g := []string{"--addr", srv.URL, "--token-file", tf}
	ok := func(stdin string, wantOut string, args ...string) string {
		t.Helper()
		code, out, errs := cli(t, stdin, append(g, args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d, stderr %q", args, code, errs)
		}
		if !strings.Contains(out, wantOut) {
			t.Fatalf("%v: stdout %q lacks %q", args, out, wantOut)
		}
		return out
	}
	ok("", "NAME", "accounts", "add", "ann")
	ok("", "ann", "accounts", "list")
	ok("", "SOURCE", "accounts", "show", "ann")
	kf := filepath.Join(t.TempDir(), "id.pub")
	if err := os.WriteFile(kf, []byte(testKeyLine(t)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ok("", "laptop", "keys", "add", "ann", kf, "--label", "laptop")
	ok(testKeyLine(t), "FINGERPRINT", "keys", "add", "ann", "-")
	var keys []admin.Key
	out := ok("", "[", "--json", "keys", "list", "ann")
	if err := json.Unmarshal([]byte(out), &keys); err != nil || len(keys) != 2 {
		t.Fatalf("keys list --json: %v, %q", err, out)
	}
	ok("", "LAST USED", "keys", "list", "ann")
	ok("", "done", "keys", "delete", "ann", keys[0].ID)
	ok("", "DOMAIN", "reservations", "add", "ann", "--domain", "app")
	ok("", "done", "reservations", "delete", "ann", "--domain", "app")
	ok("", "TCP ADDRESS", "reservations", "add", "ann", "--tcp", "0.0.0.0:9000")
	ok("", "done", "reservations", "delete", "ann", "--tcp", "0.0.0.0:9000")
	st.AddTunnel(admin.Tunnel{ID: "t1", Account: "ann", Type: "http", URL: "https://app.tunnel.test"})
	ok("", "https://app.tunnel.test", "tunnels", "list")
	ok("", "done", "tunnels", "end", "t1")
	var inv struct{ Code, Account string }
	out = ok("", "code", "--json", "invites", "create", "ann", "--ttl", "1h")
	if err := json.Unmarshal([]byte(out), &inv); err != nil || inv.Code == "" || inv.Account != "ann" {
		t.Fatalf("invites create --json: %v, %q", err, out)
	}
	ok("", "CODE", "invites", "create", "ann")
	var tok struct{ Token string }
	out = ok("", "token", "--json", "tokens", "create", "ann")
	if err := json.Unmarshal([]byte(out), &tok); err != nil || tok.Token == "" {
		t.Fatalf("tokens create --json: %v, %q", err, out)
	}
	// The account token reaches its own account, through the env.
	t.Setenv("SSHGRESS_ADMIN_TOKEN", tok.Token)
	code, out, errs := cli(t, "", "--addr", srv.URL, "--token-file", "/nonexistent", "accounts", "show", "ann")
	if code != 0 || !strings.Contains(out, "ann") {
		t.Fatalf("account token: exit %d, %q %q", code, out, errs)
	}
	t.Setenv("SSHGRESS_ADMIN_TOKEN", "")
	ok("", "done", "accounts", "delete", "ann")
	var as []admin.Account
	out = ok("", "[", "--json", "accounts", "list")
	if err := json.Unmarshal([]byte(out), &as); err != nil || len(as) != 0 {
		t.Fatalf("accounts list --json after delete: %v, %q", err, out)
	}
}

func TestAdminCLIErrors(t *testing.T) {
	srv, _, tf := adminServer(t)
	code, out, errs := cli(t, "", "--addr", srv.URL, "--token", "wrong-token-0123456789", "accounts", "list")
	if code != 1 || out != "" || !strings.Contains(errs, "the request needs a valid token") {
		t.Fatalf("bad token: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	code, _, errs = cli(t, "", "--addr", srv.URL, "--token-file", tf, "accounts", "show", "nobody")
	if code != 1 || !strings.Contains(errs, `there is no account "nobody"`) {
		t.Fatalf("unknown account: exit %d, stderr %q", code, errs)
	}
	for _, args := range [][]string{
		{"frobnicate", "now"},
		{"accounts"},
		{"accounts", "add"},
		{"reservations", "add", "ann"},
		{"reservations", "add", "ann", "--domain", "a", "--tcp", "0.0.0.0:1"},
		{"--bogus", "accounts", "list"},
	} {
		code, out, errs := cli(t, "", append([]string{"--addr", srv.URL, "--token-file", tf}, args...)...)
		if code != 2 || out != "" || !strings.Contains(errs, "Usage: sshgress admin") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errs)
		}
	}
	var o, e bytes.Buffer
	if code := run([]string{"admin", "frobnicate", "x"}, &o, &e); code != 2 || !strings.Contains(e.String(), `unknown command "frobnicate x"`) {
		t.Fatalf("run admin unknown: exit %d, %q", code, e.String())
	}
}
