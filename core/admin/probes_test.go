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

// TestMetricsOff serves the probes with no metrics handler (metrics.enabled
// false): /metrics answers 404 with the sentence that says why, after the
// same token check as when the metrics are on, and the other probes stay.
func TestMetricsOff(t *testing.T) {
	st := admintest.New()
	api, err := admin.New(admin.Config{Store: st, Tunnels: st, OperatorToken: opToken, BaseDomain: "tunnel.test"})
	if err != nil {
		t.Fatal(err)
	}
	ready := func(context.Context) []admin.Check { return []admin.Check{{Name: "listener ssh", OK: true}} }
	for _, tc := range []struct {
		name      string
		needToken bool
		token     string
		path      string
		want      int
		wantBody  string
	}{
		{"loopback, no token", false, "", admin.PathMetrics, http.StatusNotFound, admin.MetricsOffMessage},
		{"beyond loopback, no token", true, "", admin.PathMetrics, http.StatusUnauthorized, "operator token"},
		{"beyond loopback, operator token", true, opToken, admin.PathMetrics, http.StatusNotFound, admin.MetricsOffMessage},
		{"healthz", false, "", admin.PathHealthz, http.StatusOK, "ok"},
		{"readyz", false, "", admin.PathReadyz, http.StatusOK, `"ready": true`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(api.WithProbes(admin.Probes{Ready: ready, MetricsNeedToken: tc.needToken}))
			defer srv.Close()
			req, _ := http.NewRequest("GET", srv.URL+tc.path, nil)
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want || !strings.Contains(string(b), tc.wantBody) {
				t.Errorf("GET %s: %d %s, want %d containing %q", tc.path, resp.StatusCode, b, tc.want, tc.wantBody)
			}
		})
	}
}
