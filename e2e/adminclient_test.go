package e2e_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/config"
	"github.com/sshgress/sshgress/e2e"
	"github.com/sshgress/sshgress/plugins/oauth"
	"github.com/sshgress/sshgress/plugins/tcp"
	tlsplugin "github.com/sshgress/sshgress/plugins/tls"
	"github.com/sshgress/sshgress/sdk"
)

// The management API suite (admin_test.go, adminbad_test.go): net/http
// against the real edge's admin listener, the real OpenSSH client on the
// SSH side. This file holds its client and helpers.

// adminAPI is a client of an edge's management API with one token.
type adminAPI struct {
	base, token string
	hc          *http.Client
}

// operatorAPI reads the operator token the edge wrote to admin.token_file.
func operatorAPI(t *testing.T, edge *e2e.Edge) adminAPI {
	t.Helper()
	tok, err := os.ReadFile(edge.Cfg.AdminTokenPath())
	if err != nil {
		t.Fatalf("read the operator token: %v", err)
	}
	return adminAPI{base: "http://" + edge.AdminAddr().String(), token: strings.TrimSpace(string(tok)),
		hc: &http.Client{Timeout: 15 * time.Second}}
}

// as is the same API with another token ("" sends none).
func (a adminAPI) as(token string) adminAPI { a.token = token; return a }

// send sends method path with body (a string is sent as is, anything else
// as JSON) and returns the status and the response body. It does not touch
// t, so goroutines may call it.
func (a adminAPI) send(method, path string, body any) (int, []byte, error) {
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return 0, nil, err
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, a.base+path, r)
	if err != nil {
		return 0, nil, err
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, data, err
}

// call is send that fails the test on a transport error.
func (a adminAPI) call(t *testing.T, method, path string, body any) (int, []byte) {
	t.Helper()
	st, data, err := a.send(method, path, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return st, data
}

// must calls and fails the test unless the status is want; it decodes a
// JSON answer into out (when not nil).
func (a adminAPI) must(t *testing.T, want int, method, path string, body, out any) {
	t.Helper()
	st, data := a.call(t, method, path, body)
	if st != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, st, data, want)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, data)
		}
	}
}

// refused calls and checks the status and that the answer is
// {"error": sentence} containing want; it returns the sentence.
func (a adminAPI) refused(t *testing.T, status int, want, method, path string, body any) string {
	t.Helper()
	st, data := a.call(t, method, path, body)
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(data, &e); err != nil || e.Error == "" {
		t.Errorf("%s %s: %d %q is not {\"error\": sentence}", method, path, st, data)
		return ""
	}
	if st != status || !strings.Contains(e.Error, want) {
		t.Errorf("%s %s: %d %q, want %d saying %q", method, path, st, e.Error, status, want)
	}
	return e.Error
}

// apiKey and apiTunnel are the API's JSON shapes (core/admin).
type apiKey struct {
	ID, Fingerprint, Type, Label string
	PublicKey                    string `json:"public_key"`
}

type apiTunnel struct {
	ID, Account, Type, URL string
	ClientAddr             string    `json:"client_addr"`
	Started                time.Time `json:"started"`
	Requests               int64     `json:"requests"`
	BytesIn                int64     `json:"bytes_in"`
	BytesOut               int64     `json:"bytes_out"`
}

type apiAccount struct {
	Name, Source string
	Keys         int
	Domains      []string
}

// adminEdge is an edge with config account ops (so unknown keys are
// refused) that knows the oauth manifest (its auth host is a system host)
// and the tcp and tls ones.
func adminEdge(t *testing.T, configure func(*config.Config)) (*e2e.Edge, *e2e.Key) {
	t.Helper()
	e2e.RequireSSH(t)
	ops := e2e.NewKey(t, t.TempDir(), "ops")
	edge := e2e.StartEdge(t, e2e.EdgeOptions{
		Bundled: []sdk.Manifest{tcp.New().Manifest(), tlsplugin.New().Manifest(), oauth.New().Manifest()},
		Configure: func(c *config.Config) {
			c.Accounts = []config.Account{{Name: "ops", Keys: []string{ops.AuthorizedKey}}}
			if configure != nil {
				configure(c)
			}
		},
	})
	return edge, ops
}

// newAccountWithKey creates store account name through the API and adds
// a fresh key to it.
func newAccountWithKey(t *testing.T, api adminAPI, name string) (*e2e.Key, apiKey) {
	t.Helper()
	api.must(t, http.StatusCreated, "POST", "/api/v1/accounts", map[string]string{"name": name}, nil)
	key := e2e.NewKey(t, t.TempDir(), name)
	var k apiKey
	api.must(t, http.StatusCreated, "POST", "/api/v1/accounts/"+name+"/keys", map[string]string{"public_key": key.AuthorizedKey, "label": "laptop"}, &k)
	return key, k
}

// liveTunnels lists the tunnels the token sees.
func liveTunnels(t *testing.T, api adminAPI) []apiTunnel {
	t.Helper()
	var out []apiTunnel
	api.must(t, http.StatusOK, "GET", "/api/v1/tunnels", nil, &out)
	return out
}

// waitTunnel waits (bounded) until the tunnel with url is listed and ok
// holds for it.
func waitTunnel(t *testing.T, api adminAPI, url string, ok func(apiTunnel) bool) apiTunnel {
	t.Helper()
	var last []apiTunnel
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		last = liveTunnels(t, api)
		for _, x := range last {
			if x.URL == url && (ok == nil || ok(x)) {
				return x
			}
		}
	}
	t.Fatalf("no tunnel %s as wanted within 10s: %+v", url, last)
	return apiTunnel{}
}

func hasTunnel(ts []apiTunnel, id string) bool {
	return slices.ContainsFunc(ts, func(x apiTunnel) bool { return x.ID == id })
}

// waitExit waits (bounded) for ssh to exit and returns how long it took.
func waitExit(t *testing.T, s *e2e.SSH, since time.Time, what string) time.Duration {
	t.Helper()
	select {
	case <-s.Done():
		return time.Since(since)
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: the ssh session still runs 10s later\nstdout:\n%s\nstderr:\n%s", what, s.Stdout, s.Stderr)
		return 0
	}
}

// bound waits (bounded) until ssh shows its banner (true) or exits
// (false).
func bound(t *testing.T, s *e2e.SSH) bool {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); {
		if strings.Contains(s.Stdout.String(), "Forwarding") {
			return true
		}
		select {
		case <-s.Done():
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("ssh neither forwards nor exits within 15s\nstdout:\n%s\nstderr:\n%s", s.Stdout, s.Stderr)
	return false
}

// newKeyLine is a fresh ed25519 public key as an authorized_keys line.
func newKeyLine(t *testing.T) string {
	t.Helper()
	return e2e.NewKey(t, t.TempDir(), "key").AuthorizedKey
}
