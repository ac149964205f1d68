package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/config"
	"github.com/sshgress/sshgress/e2e"
	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"
)

// TestAdminKeyAddThenDelete: a key added through the API opens a tunnel
// with OpenSSH without a restart; deleting it through the API ends the
// session, which says why.
func TestAdminKeyAddThenDelete(t *testing.T) {
	t.Parallel()
	_, port := backend(t)
	edge, _ := adminEdge(t, nil)
	api := operatorAPI(t, edge)

	key, k := newAccountWithKey(t, api, "carol")
	if k.ID == "" || k.Fingerprint != ssh.FingerprintSHA256(key.Signer.PublicKey()) || k.Type != "ssh-ed25519" || k.Label != "laptop" {
		t.Errorf("the added key is %+v", k)
	}
	s := runSSHOnceAccepted(t, edge, key, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http")
	url := s.URL(t)
	if st, body := edge.Get(t, url+"/x"); st != 200 || body != "hello from /x" {
		t.Fatalf("GET %s/x through the edge: %d %q", url, st, body)
	}

	api.must(t, http.StatusNoContent, "DELETE", "/api/v1/accounts/carol/keys/"+k.ID, nil, nil)
	took := waitExit(t, s, time.Now(), "after DELETE of its key")
	t.Logf("DELETE of the key to the ssh process's exit: %s", took)
	if !strings.Contains(s.Stderr.String(), "was removed from account carol") {
		t.Errorf("the session does not say why it ended:\nstdout:\n%s\nstderr:\n%s", s.Stdout, s.Stderr)
	}
	if st, _ := edge.Get(t, url+"/"); st == 200 {
		t.Errorf("GET %s after the key's session ended: 200", url)
	}
	var keys []apiKey
	api.must(t, http.StatusOK, "GET", "/api/v1/accounts/carol/keys", nil, &keys)
	if len(keys) != 0 {
		t.Errorf("carol's keys after the DELETE: %+v", keys)
	}
}

// TestAdminTunnels: the tunnel table lists http and tcp tunnels with their
// counters; the operator ends one, its session says so and its URL stops
// routing; a second DELETE is a 404.
func TestAdminTunnels(t *testing.T) {
	t.Parallel()
	_, port := backend(t)
	echo, _ := echoServer(t)
	key := e2e.NewKey(t, t.TempDir(), "ann")
	edge := endpointEdge(t, func(c *config.Config) {
		c.Accounts = []config.Account{{Name: "ann", Keys: []string{key.AuthorizedKey}}}
	})
	api := operatorAPI(t, edge)

	before := time.Now()
	hs := edge.RunSSH(t, key, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http")
	url := hs.URL(t)
	ts := edge.RunSSH(t, key, "-R", "0:localhost:"+echo, "v2@127.0.0.1", "tcp")
	tcpURL := ts.URL(t)

	const n = 7
	for i := range n {
		if st, _ := edge.Get(t, fmt.Sprintf("%s/r%d", url, i)); st != 200 {
			t.Fatalf("GET %d: %d", i, st)
		}
	}
	const conns = 3
	for i := range conns {
		c, err := net.DialTimeout("tcp", tcpAddr(t, tcpURL), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		msg := fmt.Sprintf("ping %d\n", i)
		got := make([]byte, len(msg))
		if _, err := io.WriteString(c, msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
			t.Fatalf("tcp echo %d: %q %v", i, got, err)
		}
		c.Close()
	}

	ht := waitTunnel(t, api, url, func(x apiTunnel) bool { return x.Requests >= n && x.BytesIn > 0 && x.BytesOut > 0 })
	tt := waitTunnel(t, api, tcpURL, func(x apiTunnel) bool { return x.Requests >= conns && x.BytesIn > 0 && x.BytesOut > 0 })
	for _, x := range []struct {
		got  apiTunnel
		typ  string
		want int64
	}{{ht, "http", n}, {tt, "tcp", conns}} {
		host, _, err := net.SplitHostPort(x.got.ClientAddr)
		if x.got.ID == "" || x.got.Account != "ann" || x.got.Type != x.typ || err != nil || host != "127.0.0.1" ||
			x.got.Started.Before(before.Add(-time.Second)) || x.got.Started.After(time.Now()) {
			t.Errorf("%s tunnel listed as %+v", x.typ, x.got)
		}
		t.Logf("%s tunnel after %d requests: requests %d, bytes in %d, out %d", x.typ, x.want, x.got.Requests, x.got.BytesIn, x.got.BytesOut)
	}
	if ht.ID == tt.ID {
		t.Errorf("two tunnels share the id %q", ht.ID)
	}

	api.must(t, http.StatusNoContent, "DELETE", "/api/v1/tunnels/"+ht.ID, nil, nil)
	waitExit(t, hs, time.Now(), "after the operator ended its only tunnel")
	if out := hs.Stdout.String() + hs.Stderr.String(); !strings.Contains(out, "the operator ended this tunnel") {
		t.Errorf("the session does not say the operator ended it:\n%s", out)
	}
	if st, _ := edge.Get(t, url+"/"); st == 200 {
		t.Errorf("GET %s after the operator ended it: 200", url)
	}
	api.refused(t, http.StatusNotFound, "no live tunnel", "DELETE", "/api/v1/tunnels/"+ht.ID, nil)
	if left := liveTunnels(t, api); len(left) != 1 || left[0].ID != tt.ID {
		t.Errorf("after ending the http tunnel the table lists %+v, want only the tcp one", left)
	}
}

// TestAdminAccountToken: an account token reaches only its own account's
// keys and tunnels; no token or a wrong one is a 401.
func TestAdminAccountToken(t *testing.T) {
	t.Parallel()
	_, port := backend(t)
	edge, _ := adminEdge(t, nil)
	op := operatorAPI(t, edge)
	carol, _ := newAccountWithKey(t, op, "carol")
	dave, _ := newAccountWithKey(t, op, "dave")
	var tok struct{ Account, Token string }
	op.must(t, http.StatusCreated, "POST", "/api/v1/accounts/carol/tokens", nil, &tok)
	if tok.Account != "carol" || tok.Token == "" {
		t.Fatalf("the token answer is %+v", tok)
	}
	if strings.Contains(edge.Logs.String(), tok.Token) {
		t.Errorf("the edge logged an account token")
	}
	api := op.as(tok.Token)

	cs := runSSHOnceAccepted(t, edge, carol, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http")
	ds := runSSHOnceAccepted(t, edge, dave, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http")
	ct := waitTunnel(t, op, cs.URL(t), nil)
	dt := waitTunnel(t, op, ds.URL(t), nil)

	var keys []apiKey
	api.must(t, http.StatusOK, "GET", "/api/v1/accounts/carol/keys", nil, &keys)
	if len(keys) != 1 || keys[0].Fingerprint != ssh.FingerprintSHA256(carol.Signer.PublicKey()) {
		t.Errorf("carol's token lists her keys as %+v", keys)
	}
	if mine := liveTunnels(t, api); len(mine) != 1 || mine[0].ID != ct.ID {
		t.Errorf("carol's token lists the tunnels %+v, want only %s", mine, ct.ID)
	}
	api.refused(t, http.StatusForbidden, "operator", "GET", "/api/v1/accounts", nil)
	api.refused(t, http.StatusForbidden, `account "carol"`, "GET", "/api/v1/accounts/dave/keys", nil)
	api.refused(t, http.StatusForbidden, "operator", "POST", "/api/v1/accounts/dave/tokens", nil)
	api.refused(t, http.StatusNotFound, "no tunnel", "DELETE", "/api/v1/tunnels/"+dt.ID, nil)
	if !hasTunnel(liveTunnels(t, op), dt.ID) {
		t.Errorf("dave's tunnel is gone after carol's token tried to end it")
	}
	if st, _ := edge.Get(t, dt.URL+"/"); st != 200 {
		t.Errorf("dave's tunnel after carol's token tried to end it: GET %d", st)
	}

	api.must(t, http.StatusNoContent, "DELETE", "/api/v1/tunnels/"+ct.ID, nil, nil)
	waitExit(t, cs, time.Now(), "after its owner ended its tunnel")
	if out := cs.Stdout.String() + cs.Stderr.String(); !strings.Contains(out, "you ended this tunnel through the management API") {
		t.Errorf("carol's session does not say she ended it:\n%s", out)
	}

	for _, bad := range []string{"", "sgt_" + strings.Repeat("0", 48), op.token + "x"} {
		op.as(bad).refused(t, http.StatusUnauthorized, "valid token", "GET", "/api/v1/tunnels", nil)
	}
}

// TestAdminReservation: a domain reserved through the API applies to the
// next bind: another account is refused it, the owner gets it; released,
// it is free again.
func TestAdminReservation(t *testing.T) {
	t.Parallel()
	_, port := backend(t)
	edge, _ := adminEdge(t, nil)
	api := operatorAPI(t, edge)
	carol, _ := newAccountWithKey(t, api, "carol")
	dave, _ := newAccountWithKey(t, api, "dave")
	runSSHOnceAccepted(t, edge, dave, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http").Kill() // dave's key is live

	var res map[string]string
	api.must(t, http.StatusCreated, "POST", "/api/v1/accounts/carol/domains", map[string]string{"domain": "carolapp"}, &res)
	if res["domain"] != "carolapp.localhost" {
		t.Errorf("the reservation answer is %v", res)
	}
	var acct apiAccount
	api.must(t, http.StatusOK, "GET", "/api/v1/accounts/carol", nil, &acct)
	if !slices.Equal(acct.Domains, []string{"carolapp.localhost"}) {
		t.Errorf("carol's domains: %v", acct.Domains)
	}

	// Dave is refused the name (once the edge's directory has followed the
	// store: bounded tries).
	for try := 0; ; try++ {
		s := edge.RunSSH(t, dave, "-R", "carolapp:80:localhost:"+port, "v2@127.0.0.1", "http")
		if !bound(t, s) {
			if code := s.Wait(5 * time.Second); code <= 0 || !strings.Contains(s.Stderr.String(), "carolapp.localhost is reserved") {
				t.Errorf("dave's bind of carol's name: exit %d\n%s", code, s.Stderr)
			}
			break
		}
		s.Kill()
		if try > 20 {
			t.Fatalf("dave still binds carol's reserved name:\n%s", s.Stdout)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cs := runSSHOnceAccepted(t, edge, carol, "-R", "carolapp:80:localhost:"+port, "v2@127.0.0.1", "http")
	url := cs.URL(t)
	if !strings.HasPrefix(url, "http://carolapp.localhost:") {
		t.Fatalf("carol's URL is %s", url)
	}
	if st, _ := edge.Get(t, url+"/"); st != 200 {
		t.Errorf("GET %s: %d", url, st)
	}
	cs.Kill()

	api.must(t, http.StatusNoContent, "DELETE", "/api/v1/accounts/carol/domains", map[string]string{"domain": "carolapp"}, nil)
	api.must(t, http.StatusOK, "GET", "/api/v1/accounts/carol", nil, &acct)
	if len(acct.Domains) != 0 {
		t.Errorf("carol's domains after the release: %v", acct.Domains)
	}
	for try := 0; ; try++ {
		s := edge.RunSSH(t, dave, "-R", "carolapp:80:localhost:"+port, "v2@127.0.0.1", "http")
		if bound(t, s) {
			if u := s.URL(t); u != url {
				t.Errorf("dave's URL after the release is %s, want %s", u, url)
			}
			break
		}
		if try > 20 {
			t.Fatalf("dave is still refused the released name:\n%s", s.Stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestAdminRestartKeepsData: accounts, keys, reservations and account
// tokens made through the API outlive a restart on the same data dir; the
// key still logs in and the operator token file is unchanged.
func TestAdminRestartKeepsData(t *testing.T) {
	t.Parallel()
	_, port := backend(t)
	dataDir := t.TempDir()
	configure := func(c *config.Config) { c.DataDir = dataDir }
	edge, _ := adminEdge(t, configure)
	api := operatorAPI(t, edge)
	carol, k := newAccountWithKey(t, api, "carol")
	api.must(t, http.StatusCreated, "POST", "/api/v1/accounts/carol/domains", map[string]string{"domain": "carolapp"}, nil)
	var tok struct{ Token string }
	api.must(t, http.StatusCreated, "POST", "/api/v1/accounts/carol/tokens", nil, &tok)
	tokenFile := edge.Cfg.AdminTokenPath()
	opToken, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	edge.Shutdown(ctx)
	cancel()
	edge, _ = adminEdge(t, configure)
	api = operatorAPI(t, edge)

	if got, err := os.ReadFile(tokenFile); err != nil || !bytes.Equal(got, opToken) {
		t.Errorf("the operator token file changed across the restart (%v)", err)
	}
	if fi, err := os.Stat(tokenFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the operator token file: %v %v, want mode 0600", fi, err)
	}
	var acct apiAccount
	api.must(t, http.StatusOK, "GET", "/api/v1/accounts/carol", nil, &acct)
	if acct.Source != "store" || acct.Keys != 1 || !slices.Equal(acct.Domains, []string{"carolapp.localhost"}) {
		t.Errorf("carol after the restart: %+v", acct)
	}
	var keys []apiKey
	api.as(tok.Token).must(t, http.StatusOK, "GET", "/api/v1/accounts/carol/keys", nil, &keys)
	if len(keys) != 1 || keys[0].ID != k.ID || keys[0].Fingerprint != k.Fingerprint || keys[0].Label != "laptop" {
		t.Errorf("carol's keys after the restart (with her token): %+v, want %+v", keys, k)
	}
	s := edge.RunSSH(t, carol, "-R", "carolapp:80:localhost:"+port, "v2@127.0.0.1", "http")
	url := s.URL(t)
	if st, _ := edge.Get(t, url+"/"); st != 200 || !strings.HasPrefix(url, "http://carolapp.localhost:") {
		t.Errorf("after the restart carol's tunnel %s: GET %d", url, st)
	}
}

// TestAdminConcurrentKeyAdds: 50 concurrent adds of distinct keys all
// land; 10 concurrent adds of one key to two accounts leave it on exactly
// one, the others refused with 409.
func TestAdminConcurrentKeyAdds(t *testing.T) {
	t.Parallel()
	edge, _ := adminEdge(t, nil)
	api := operatorAPI(t, edge)
	const accounts, adds = 5, 50
	for i := range accounts {
		api.must(t, http.StatusCreated, "POST", "/api/v1/accounts", map[string]string{"name": fmt.Sprintf("a%d", i)}, nil)
	}
	for _, name := range []string{"s0", "s1"} {
		api.must(t, http.StatusCreated, "POST", "/api/v1/accounts", map[string]string{"name": name}, nil)
	}

	lines := make([]string, adds)
	for i := range lines {
		lines[i] = newKeyLine(t)
	}
	statuses := make([]int, adds)
	var wg sync.WaitGroup
	for i := range adds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i], _, _ = api.send("POST", fmt.Sprintf("/api/v1/accounts/a%d/keys", i%accounts), map[string]string{"public_key": lines[i]})
		}()
	}
	wg.Wait()
	for i, st := range statuses {
		if st != http.StatusCreated {
			t.Errorf("concurrent add %d: %d, want 201", i, st)
		}
	}
	var listed []string
	for i := range accounts {
		var keys []apiKey
		api.must(t, http.StatusOK, "GET", fmt.Sprintf("/api/v1/accounts/a%d/keys", i), nil, &keys)
		for _, k := range keys {
			listed = append(listed, k.PublicKey)
		}
	}
	slices.Sort(listed)
	want := slices.Clone(lines)
	slices.Sort(want)
	if !slices.Equal(listed, want) {
		t.Errorf("the accounts list %d keys after %d concurrent adds, not the same ones", len(listed), adds)
	}

	same := newKeyLine(t)
	const racers = 10
	statuses = make([]int, racers)
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i], _, _ = api.send("POST", fmt.Sprintf("/api/v1/accounts/s%d/keys", i%2), map[string]string{"public_key": same})
		}()
	}
	wg.Wait()
	won, lost := 0, 0
	for _, st := range statuses {
		switch st {
		case http.StatusCreated:
			won++
		case http.StatusConflict:
			lost++
		}
	}
	if won != 1 || lost != racers-1 {
		t.Errorf("10 concurrent adds of one key: statuses %v, want one 201 and nine 409", statuses)
	}
	holders := 0
	for _, name := range []string{"s0", "s1"} {
		var keys []apiKey
		api.must(t, http.StatusOK, "GET", "/api/v1/accounts/"+name+"/keys", nil, &keys)
		holders += len(keys)
	}
	if holders != 1 {
		t.Errorf("the raced key is on %d key lists, want 1", holders)
	}
}
