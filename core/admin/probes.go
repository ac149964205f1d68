package admin

import (
	"context"
	"net/http"
	"time"
)

// Paths of the probes the admin listener serves beside the API.
const (
	PathMetrics = "/metrics"
	PathHealthz = "/healthz"
	PathReadyz  = "/readyz"
)

// readyTimeout bounds one /readyz answer: every check runs within it.
const readyTimeout = 3 * time.Second

// Check is one thing /readyz looked at.
type Check struct {
	// Name says what was checked: "listener ssh", "plugin basicauth",
	// "store".
	Name string `json:"name"`
	// OK reports that it is ready.
	OK bool `json:"ok"`
	// State says it in a word or two ("up", "restarting", "not answering",
	// "not bound"); never a secret.
	State string `json:"state,omitempty"`
	// Restarts is a plugin's restarts since the edge started.
	Restarts int64 `json:"restarts,omitempty"`
}

// Readiness is /readyz's JSON body.
type Readiness struct {
	Ready bool `json:"ready"`
	// NotReady names the checks that failed; empty when Ready.
	NotReady []string `json:"not_ready"`
	Checks   []Check  `json:"checks"`
}

// MetricsOffMessage is what GET /metrics answers, with 404, on an edge
// whose metrics are turned off.
const MetricsOffMessage = "metrics are turned off on this edge (metrics.enabled is false): set it to true and restart the edge to serve /metrics"

// Probes are the endpoints an operator's monitoring calls.
type Probes struct {
	// Metrics serves GET /metrics (Prometheus' text format). Nil means
	// the metrics are turned off: /metrics answers 404 with
	// MetricsOffMessage (after the token check, so a stranger learns
	// nothing more).
	Metrics http.Handler
	// Ready runs the readiness checks, bounded by ctx.
	Ready func(ctx context.Context) []Check
	// MetricsNeedToken makes /metrics require the operator token (or an
	// operator-scoped one): set when the listener is not on loopback.
	MetricsNeedToken bool
}

// WithProbes serves /metrics, /healthz and /readyz beside the API, which
// keeps its token on every other path. /healthz and /readyz need no token
// (load balancers and kubelets send none) and say only which checks fail;
// /metrics needs the operator token when p.MetricsNeedToken.
func (a *API) WithProbes(p Probes) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", a)
	mux.HandleFunc("GET "+PathHealthz, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET "+PathReadyz, func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		body := Readiness{Ready: true, NotReady: []string{}, Checks: nonNil(p.Ready(ctx))}
		for _, c := range body.Checks {
			if !c.OK {
				body.Ready = false
				body.NotReady = append(body.NotReady, c.Name)
			}
		}
		status := http.StatusOK
		if !body.Ready {
			status = http.StatusServiceUnavailable
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, status, body)
	})
	mux.HandleFunc("GET "+PathMetrics, func(w http.ResponseWriter, r *http.Request) {
		if p.MetricsNeedToken {
			if scope, ok := a.authenticate(r); !ok || !scope.Operator {
				w.Header().Set("WWW-Authenticate", `Bearer realm="sshgress"`)
				writeError(w, http.StatusUnauthorized, "on a listener beyond loopback /metrics needs the operator token: send Authorization: Bearer <token> (Prometheus: authorization.credentials_file)")
				return
			}
		}
		w.Header().Set("Cache-Control", "no-store")
		if p.Metrics == nil {
			writeError(w, http.StatusNotFound, MetricsOffMessage)
			return
		}
		p.Metrics.ServeHTTP(w, r)
	})
	return mux
}
