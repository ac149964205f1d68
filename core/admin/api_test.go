package admin_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/admin"
	"github.com/sshgress/sshgress/core/admin/admintest"
	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"
)

const opToken = "operator-token-0123456789abcdef"

// newTestAPI starts the API on a real HTTP server over an in-memory store
// with one config account ("cfg").
func newTestAPI(t *testing.T) (*httptest.Server, *admintest.Store) {
	t.Helper()
	st := admintest.New()
	st.AddConfigAccount("cfg", 1)
	api, err := admin.New(admin.Config{Store: st, Tunnels: st, OperatorToken: opToken, BaseDomain: "tunnel.test", SystemHosts: []string{"auth.tunnel.test"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return srv, st
}

// call sends method path body with token and returns status and body.
func call(t *testing.T, srv *httptest.Server, token, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b)
}

func edKeyLine(t *testing.T) string {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))) + " ann@laptop"
}

func keyLine(t *testing.T, k any) string {
	pub, err := ssh.NewPublicKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
}

// TestAPIWalk is the operator's walk: account, key, domain, token,
// invite, tunnels.
func TestAPIWalk(t *testing.T) {
	srv, st := newTestAPI(t)
	steps := []struct {
		method, path, body string
		want               int
		contains           string
	}{
		{"POST", "/api/v1/accounts", `{"name": "carol"}`, 201, `"name": "carol"`},
		{"GET", "/api/v1/accounts", "", 200, `"carol"`},
		{"POST", "/api/v1/accounts/carol/keys", `{"public_key": "` + edKeyLine(t) + `", "label": "laptop"}`, 201, `"fingerprint": "SHA256:`},
		{"GET", "/api/v1/accounts/carol/keys", "", 200, `"label": "laptop"`},
		{"POST", "/api/v1/accounts/carol/domains", `{"domain": "app"}`, 201, `"domain": "app.tunnel.test"`},
		{"POST", "/api/v1/accounts/carol/domains", `{"domain": "Shop.Example.ORG."}`, 201, `"domain": "shop.example.org"`},
		{"POST", "/api/v1/accounts/carol/tcp-addresses", `{"tcp_address": "tcp.tunnel.test:05432"}`, 201, `"tcp_address": "tcp.tunnel.test:5432"`},
		{"GET", "/api/v1/accounts/carol", "", 200, `"app.tunnel.test"`},
		{"DELETE", "/api/v1/accounts/carol/domains", `{"domain": "shop.example.org"}`, 204, ""},
		{"POST", "/api/v1/invites", `{"account": "carol", "ttl": "1h"}`, 201, `"code": "`},
		{"GET", "/api/v1/tunnels", "", 200, `"client_addr": "192.0.2.1:5555"`},
		{"DELETE", "/api/v1/tunnels/t1", "", 204, ""},
		{"DELETE", "/api/v1/accounts/carol/keys/k1", "", 204, ""},
		{"GET", "/api/v1/openapi.json", "", 200, `"openapi": "3.`},
	}
	st.AddTunnel(admin.Tunnel{ID: "t1", Account: "carol", Type: "http", URL: "https://app.tunnel.test", ClientAddr: "192.0.2.1:5555"})
	for _, s := range steps {
		got, body := call(t, srv, opToken, s.method, s.path, s.body)
		if got != s.want || !strings.Contains(body, s.contains) {
			t.Fatalf("%s %s: got %d %s, want %d with %s", s.method, s.path, got, body, s.want, s.contains)
		}
	}
	if r := st.Ended("t1"); !strings.Contains(r, "operator") {
		t.Errorf("tunnel end reason %q, want one naming the operator", r)
	}
	if inv := st.Invites(); len(inv) != 1 || len(inv[0].CodeHash) != 64 || time.Until(inv[0].Expires) > time.Hour {
		t.Errorf("invites stored %+v, want one with a digest, expiring within 1h", inv)
	}
}

// TestAPIRefuses is every bad input: each gets its status and a sentence,
// and changes nothing.
func TestAPIRefuses(t *testing.T) {
	srv, st := newTestAPI(t)
	call(t, srv, opToken, "POST", "/api/v1/accounts", `{"name": "carol"}`)
	call(t, srv, opToken, "POST", "/api/v1/accounts", `{"name": "dave"}`)
	taken := edKeyLine(t)
	call(t, srv, opToken, "POST", "/api/v1/accounts/dave/keys", `{"public_key": "`+taken+`"}`)
	call(t, srv, opToken, "POST", "/api/v1/accounts/dave/domains", `{"domain": "dave"}`)
	_, tb := call(t, srv, opToken, "POST", "/api/v1/accounts/carol/tokens", "")
	var tok struct{ Token string }
	json.Unmarshal([]byte(tb), &tok)
	if !strings.HasPrefix(tok.Token, "sgt_") {
		t.Fatalf("token response %s", tb)
	}
	st.AddTunnel(admin.Tunnel{ID: "t9", Account: "dave"})

	priv1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	// x/crypto no longer marshals DSA keys: write the ssh-dss wire form.
	dsaBlob := ssh.Marshal(struct {
		Name       string
		P, Q, G, Y *big.Int
	}{ssh.KeyAlgoDSA, big.NewInt(23), big.NewInt(11), big.NewInt(4), big.NewInt(8)})
	dsaLine := "ssh-dss " + base64.StdEncoding.EncodeToString(dsaBlob)

	tests := []struct {
		name, token, method, path, body string
		want                            int
		msg                             string
	}{
		{"no token", "", "GET", "/api/v1/accounts", "", 401, "needs a valid token"},
		{"bad token", "nope-nope-nope-nope", "GET", "/api/v1/accounts", "", 401, "needs a valid token"},
		{"user token on operator endpoint", tok.Token, "GET", "/api/v1/accounts", "", 403, "for the operator"},
		{"user token on another account", tok.Token, "GET", "/api/v1/accounts/dave/keys", "", 403, `belongs to account "carol"`},
		{"user token on another's tunnel", tok.Token, "DELETE", "/api/v1/tunnels/t9", "", 404, "no tunnel"},
		{"user token custom domain", tok.Token, "POST", "/api/v1/accounts/carol/domains", `{"domain": "carol.example.org"}`, 403, "under tunnel.test only"},
		{"user token tcp address", tok.Token, "POST", "/api/v1/accounts/carol/tcp-addresses", `{"tcp_address": "a.tunnel.test:1"}`, 403, "for the operator"},
		{"unknown field", opToken, "POST", "/api/v1/accounts", `{"name": "eve", "admin": true}`, 400, `unknown field "admin"`},
		{"not json", opToken, "POST", "/api/v1/accounts", `name=eve`, 400, "not the JSON object"},
		{"two values", opToken, "POST", "/api/v1/accounts", `{"name": "eve"} {}`, 400, "more than one JSON value"},
		{"oversized", opToken, "POST", "/api/v1/accounts", `{"name": "` + strings.Repeat("e", admin.MaxBodyBytes) + `"}`, 413, "larger than"},
		{"bad name", opToken, "POST", "/api/v1/accounts", `{"name": "e ve"}`, 400, "not allowed"},
		{"account exists", opToken, "POST", "/api/v1/accounts", `{"name": "carol"}`, 409, "exists"},
		{"no such account", opToken, "GET", "/api/v1/accounts/zed", "", 404, `no account "zed"`},
		{"malformed key", opToken, "POST", "/api/v1/accounts/carol/keys", `{"public_key": "ssh-ed25519 AAAA"}`, 400, "not a public key line"},
		{"key with options", opToken, "POST", "/api/v1/accounts/carol/keys", `{"public_key": "restrict ` + edKeyLine(t) + `"}`, 400, "are not supported"},
		{"rsa 1024", opToken, "POST", "/api/v1/accounts/carol/keys", `{"public_key": "` + keyLine(t, &priv1024.PublicKey) + `"}`, 400, "RSA key of 1024 bits"},
		{"dsa", opToken, "POST", "/api/v1/accounts/carol/keys", `{"public_key": "` + dsaLine + `"}`, 400, "ssh-dss is not accepted"},
		{"key on another account", opToken, "POST", "/api/v1/accounts/carol/keys", `{"public_key": "` + taken + `"}`, 409, `key of account "dave"`},
		{"config account", opToken, "POST", "/api/v1/accounts/cfg/keys", `{"public_key": "` + edKeyLine(t) + `"}`, 409, "config file"},
		{"domain taken", opToken, "POST", "/api/v1/accounts/carol/domains", `{"domain": "dave.tunnel.test"}`, 409, "reserved by another"},
		{"system host", opToken, "POST", "/api/v1/accounts/carol/domains", `{"domain": "auth"}`, 403, "served by the edge"},
		{"base domain", opToken, "POST", "/api/v1/accounts/carol/domains", `{"domain": "tunnel.test"}`, 400, "base domain"},
		{"bad domain", opToken, "POST", "/api/v1/accounts/carol/domains", `{"domain": "a_b.example"}`, 400, "a_b.example"},
		{"bad tcp address", opToken, "POST", "/api/v1/accounts/carol/tcp-addresses", `{"tcp_address": "nope"}`, 400, "not host:port"},
		{"bad ttl", opToken, "POST", "/api/v1/invites", `{"account": "carol", "ttl": "forever"}`, 400, "ttl"},
		{"invite for nobody", opToken, "POST", "/api/v1/invites", `{"account": "zed"}`, 404, `no account "zed"`},
		{"no such tunnel", opToken, "DELETE", "/api/v1/tunnels/nope", "", 404, "no tunnel"},
		{"no such route", opToken, "GET", "/api/v1/nope", "", 404, "no such API endpoint"},
	}
	ctx := context.Background()
	accounts := func() []byte {
		a, _ := st.Accounts(ctx)
		b, _ := json.Marshal(a)
		return b
	}
	before := accounts()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, body := call(t, srv, tc.token, tc.method, tc.path, tc.body)
			var e struct{ Error string }
			if err := json.Unmarshal([]byte(body), &e); err != nil {
				t.Fatalf("body %q is not {\"error\": …}: %v", body, err)
			}
			if got != tc.want || !strings.Contains(e.Error, tc.msg) {
				t.Fatalf("got %d %q, want %d with %q", got, e.Error, tc.want, tc.msg)
			}
		})
	}
	if after := accounts(); !bytes.Equal(before, after) || len(st.Invites()) != 0 || len(st.Tunnels(ctx)) != 1 {
		t.Errorf("a refused request changed the store:\nbefore %s\nafter  %s", before, after)
	}
	// The account token does reach its own account.
	if got, body := call(t, srv, tok.Token, "POST", "/api/v1/accounts/carol/keys", `{"public_key": "`+edKeyLine(t)+`"}`); got != 201 {
		t.Errorf("own key add with account token: %d %s", got, body)
	}
}

func TestOperatorToken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "admin_token")
	tok, err := admin.LoadOrCreateToken(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 || len(tok) != 64 {
		t.Fatalf("token file %v mode %v, token length %d; want mode 0600 and 64 hex digits", err, st.Mode().Perm(), len(tok))
	}
	again, err := admin.LoadOrCreateToken(path)
	if err != nil || again != tok {
		t.Fatalf("second load %q %v, want the same token", again, err)
	}
	os.Chmod(path, 0o644)
	if _, err := admin.LoadOrCreateToken(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable token file: %v, want a refusal saying chmod 600", err)
	}
}

func TestListenRefusesPublicWithoutTLS(t *testing.T) {
	if _, err := admin.Listen("0.0.0.0:0", nil); err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		t.Fatalf("Listen(0.0.0.0:0) = %v, want a refusal", err)
	}
	ln, err := admin.Listen("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
}
