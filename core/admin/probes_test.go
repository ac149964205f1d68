package admin_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/sshgress/sshgress/core/admin"
	"github.com/sshgress/sshgress/core/admin/admintest"
)

// TestProbes serves the API with its probes on a real HTTP server: the
// health endpoints need no token, /readyz names what failed, /metrics
// needs the operator token only when told to, the API keeps its token.
func TestProbes(t *testing.T) {
	st := admintest.New()
	api, err := admin.New(admin.Config{Store: st, Tunnels: st, OperatorToken: opToken, BaseDomain: "tunnel.test"})
	if err != nil {
		t.Fatal(err)
	}
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "sshgress_up 1\n") })
	pluginUp := true
	ready := func(context.Context) []admin.Check {
		return []admin.Check{{Name: "listener ssh", OK: true}, {Name: "plugin basicauth", OK: pluginUp, State: "up"}}
	}
	for _, needToken := range []bool{false, true} {
		srv := httptest.NewServer(api.WithProbes(admin.Probes{Metrics: metrics, Ready: ready, MetricsNeedToken: needToken}))
		get := func(path, token string) (int, string) {
			t.Helper()
			req, _ := http.NewRequest("GET", srv.URL+path, nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		if code, _ := get(admin.PathHealthz, ""); code != 200 {
			t.Errorf("needToken %v: /healthz without a token: %d, want 200", needToken, code)
		}
		pluginUp = true
		if code, body := get(admin.PathReadyz, ""); code != 200 {
			t.Errorf("needToken %v: /readyz all up: %d %s, want 200", needToken, code, body)
		}
		pluginUp = false
		code, body := get(admin.PathReadyz, "")
		var r admin.Readiness
		if err := json.Unmarshal([]byte(body), &r); err != nil || code != 503 || r.Ready || !slices.Equal(r.NotReady, []string{"plugin basicauth"}) {
			t.Errorf("needToken %v: /readyz with the plugin down: %d %+v (%v), want 503 naming plugin basicauth", needToken, code, r, err)
		}
		wantAnon := 200
		if needToken {
			wantAnon = 401
		}
		if code, body := get(admin.PathMetrics, ""); code != wantAnon {
			t.Errorf("needToken %v: /metrics without a token: %d %s, want %d", needToken, code, body, wantAnon)
		}
		if code, _ := get(admin.PathMetrics, "wrong-token-0123456789"); code != wantAnon {
			t.Errorf("needToken %v: /metrics with a wrong token: %d, want %d", needToken, code, wantAnon)
		}
		if code, body := get(admin.PathMetrics, opToken); code != 200 || !strings.Contains(body, "sshgress_up 1") {
			t.Errorf("needToken %v: /metrics with the operator token: %d %q, want 200 and the exposition", needToken, code, body)
		}
		if code, _ := get("/api/v1/accounts", ""); code != 401 {
			t.Errorf("needToken %v: the API without a token: %d, want 401", needToken, code)
		}
		if code, _ := get("/api/v1/accounts", opToken); code != 200 {
			t.Errorf("needToken %v: the API with the token: %d, want 200", needToken, code)
		}
		srv.Close()
	}
}
