package e2e_test

import (
	"fmt"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/config"
	"github.com/sshgress/sshgress/e2e"
	"github.com/sshgress/sshgress/plugins/ratelimit"
	"github.com/sshgress/sshgress/sdk"
)

// limitEdge starts an edge with the ratelimit plugin enabled (a child
// process of the sshgress binary, as in production) with the given
// operator settings.
func limitEdge(t *testing.T, settings map[string]any) *e2e.Edge {
	e2e.RequireSSH(t)
	e2e.RequireTool(t, "curl", "curl")
	return e2e.StartEdge(t, e2e.EdgeOptions{
		Binary:  e2e.SharedBinary(t),
		Bundled: []sdk.Manifest{ratelimit.New().Manifest()},
		Configure: func(c *config.Config) {
			yes := true
			c.Plugins = map[string]config.Plugin{ratelimit.Name: {Enabled: &yes, Config: settings}}
		},
	})
}

// curlRetry fetches url's / with curl and returns the status and the
// Retry-After header ("" when absent).
func curlRetry(t *testing.T, edge *e2e.Edge, url string, args ...string) (int, string) {
	t.Helper()
	name, port, _ := strings.Cut(e2e.Host(url), ":")
	full := append([]string{"-s", "-o", "/dev/null", "-D", "-", "-w", "\n%{http_code}", "--max-time", "10",
		"--connect-to", fmt.Sprintf("%s:%s:%s", name, port, edge.HTTPAddr().String())}, args...)
	out, err := exec.Command("curl", append(full, url+"/")...).Output()
	if err != nil {
		t.Fatalf("curl: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	code, _ := strconv.Atoi(strings.TrimSpace(lines[len(lines)-1]))
	retry := ""
	for _, l := range lines {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, "Retry-After") {
			retry = strings.TrimSpace(v)
		}
	}
	return code, retry
}

// TestRateLimit: --rate-limit 5/1m lets five requests of a visitor
// through, then answers 429 with Retry-After and the edge's page, without
// reaching the service; the owner gets one line, whatever the number of
// refusals.
func TestRateLimit(t *testing.T) {
	be := &counting{}
	port := serveBackend(t, be)
	edge := limitEdge(t, nil)
	key := e2e.NewKey(t, t.TempDir(), "id")
	s := edge.RunSSH(t, key, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http", "--rate-limit", "5/1m")
	url := s.URL(t)
	s.WaitOutput(t, "rate limit 5/1m per address (ratelimit)", 5*time.Second)

	for i := range 5 {
		if code, _ := curlRetry(t, edge, url); code != http.StatusOK {
			t.Fatalf("request %d of 5: %d, want 200", i+1, code)
		}
	}
	code, retry := curlRetry(t, edge, url)
	if code != http.StatusTooManyRequests {
		t.Fatalf("6th request: %d, want 429", code)
	}
	if n, err := strconv.Atoi(retry); err != nil || n < 1 || n > 12 {
		t.Errorf("Retry-After %q, want whole seconds until the next token (1 to 12)", retry)
	}
	status, page := edge.Get(t, url+"/", "Accept", "text/html")
	if status != http.StatusTooManyRequests || !strings.Contains(page, "ERR_SSHGRESS_RATE_LIMITED") || !strings.Contains(page, "Too many requests") {
		t.Fatalf("over the limit: %d\n%s\nwant the 429 page", status, page)
	}
	for range 3 {
		curlRetry(t, edge, url)
	}
	s.WaitOutput(t, "Rate limit 5/1m reached by 127.0.0.1: its requests get 429", 5*time.Second)
	s.WaitOutput(t, "429", 5*time.Second)
	if n := strings.Count(s.Stdout.String(), "Rate limit 5/1m reached"); n != 1 {
		t.Errorf("the owner's session has %d rate-limit lines, want 1:\n%s", n, s.Stdout)
	}
	if got := be.n.Load(); got != 5 {
		t.Errorf("the service served %d requests, want the 5 within the limit", got)
	}

	// The edge enforces the limit itself: with the plugin's process
	// stopped (it can answer no call), visitors still get 429, never the
	// 503 of a failed plugin call.
	pids := e2e.Processes(e2e.SharedBinary(t), "plugin", ratelimit.Name)
	if len(pids) != 1 {
		t.Fatalf("%d ratelimit processes, want 1", len(pids))
	}
	syscall.Kill(pids[0], syscall.SIGSTOP)
	t.Cleanup(func() { syscall.Kill(pids[0], syscall.SIGCONT) })
	if !waitStopped(pids[0], 5*time.Second) {
		t.Fatal("the ratelimit plugin's threads not all stopped 5s after SIGSTOP")
	}
	if code, _ := curlRetry(t, edge, url); code != http.StatusTooManyRequests {
		t.Fatalf("over the limit while the plugin is stopped: %d, want 429 (no call to the plugin)", code)
	}
	syscall.Kill(pids[0], syscall.SIGCONT)
}

// TestRateLimitHeaderKey: with --rate-limit-key header:X-Api-Key two
// callers from one address have their own limits, and the owner's line
// names the header, never its value.
func TestRateLimitHeaderKey(t *testing.T) {
	be := &counting{}
	port := serveBackend(t, be)
	edge := limitEdge(t, nil)
	key := e2e.NewKey(t, t.TempDir(), "id")
	s := edge.RunSSH(t, key, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http", "--rate-limit", "2/1h", "--rate-limit-key", "header:X-Api-Key")
	url := s.URL(t)
	s.WaitOutput(t, "rate limit 2/1h per X-Api-Key header (ratelimit)", 5*time.Second)
	ann := []string{"-H", "X-Api-Key: ann-secret-key"}
	bob := []string{"-H", "X-Api-Key: bob-secret-key"}
	for i, want := range []int{200, 200, 429} {
		if code, _ := curlRetry(t, edge, url, ann...); code != want {
			t.Fatalf("ann's request %d: %d, want %d", i+1, code, want)
		}
	}
	for i := range 2 {
		if code, _ := curlRetry(t, edge, url, bob...); code != http.StatusOK {
			t.Fatalf("bob's request %d after ann hit her limit: %d, want 200 (his own limit)", i+1, code)
		}
	}
	if code, _ := curlRetry(t, edge, url, bob...); code != http.StatusTooManyRequests {
		t.Fatalf("bob's 3rd request: %d, want 429", code)
	}
	s.WaitOutput(t, "Rate limit 2/1h reached by a caller (by its X-Api-Key header)", 5*time.Second)
	if strings.Contains(s.Stdout.String(), "secret-key") {
		t.Errorf("the owner's session shows a key header's value:\n%s", s.Stdout)
	}
	if got := be.n.Load(); got != 4 {
		t.Errorf("the service served %d requests, want 4", got)
	}
}

// failing is a service that answers 500 while fail is set, counting hits.
type failing struct {
	fail atomic.Bool
	hits atomic.Int64
}

func (f *failing) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.hits.Add(1)
	if f.fail.Load() {
		http.Error(w, "boom", http.StatusInternalServerError)
		return
	}
	fmt.Fprint(w, "fine")
}

// TestCircuitBreaker: a service answering 500 trips --circuit-breaker 0.5
// after the operator's volume (3 here, with a 3 s trip time so the test is
// short); then visitors get the edge's 503 page with Retry-After and the
// service is not called; after the trip time one probe goes through, and
// the service, healthy again, gets traffic again. The owner gets a line
// when it trips and one when it closes.
func TestCircuitBreaker(t *testing.T) {
	be := &failing{}
	be.fail.Store(true)
	port := serveBackend(t, be)
	edge := limitEdge(t, map[string]any{"breaker_volume": 3, "breaker_window": "1m", "breaker_tripped": "3s"})
	key := e2e.NewKey(t, t.TempDir(), "id")
	s := edge.RunSSH(t, key, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http", "--circuit-breaker", "0.5")
	url := s.URL(t)
	s.WaitOutput(t, "circuit breaker at 50% 5xx (ratelimit)", 5*time.Second)

	for i := range 3 {
		if code, _ := curlRetry(t, edge, url); code != http.StatusInternalServerError {
			t.Fatalf("request %d: %d, want the service's 500", i+1, code)
		}
	}
	code, retry := curlRetry(t, edge, url)
	if code != http.StatusServiceUnavailable || retry == "" {
		t.Fatalf("after 3 of 3 5xx: %d (Retry-After %q), want 503 with Retry-After", code, retry)
	}
	status, page := edge.Get(t, url+"/", "Accept", "text/html")
	if status != http.StatusServiceUnavailable || !strings.Contains(page, "ERR_SSHGRESS_CIRCUIT_OPEN") {
		t.Fatalf("tripped: %d\n%s\nwant the circuit-open page", status, page)
	}
	if got := be.hits.Load(); got != 3 {
		t.Fatalf("the service was called %d times, want 3: a tripped breaker must not call it", got)
	}
	s.WaitOutput(t, "Circuit breaker tripped: 3 of the last 3 responses in 1m were 5xx, so requests get 503 for 3s", 5*time.Second)

	be.fail.Store(false)
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, _ := curlRetry(t, edge, url)
		if code == http.StatusOK {
			break
		}
		if code != http.StatusServiceUnavailable {
			t.Fatalf("while waiting for the breaker to close: %d, want 503 or 200", code)
		}
		if time.Now().After(deadline) {
			t.Fatal("the breaker did not let a request through within 15s of a 3s trip time")
		}
		time.Sleep(200 * time.Millisecond)
	}
	for i := range 3 {
		if code, _ := curlRetry(t, edge, url); code != http.StatusOK {
			t.Fatalf("request %d after recovery: %d, want 200", i+1, code)
		}
	}
	s.WaitOutput(t, "Circuit breaker closed: your service answered 200 again", 5*time.Second)
	if n := strings.Count(s.Stdout.String(), "Circuit breaker tripped"); n != 1 {
		t.Errorf("the owner's session has %d trip lines, want 1:\n%s", n, s.Stdout)
	}
}

// TestRateLimitRefusals: a bad value gets its sentence in the ssh session
// and no tunnel; http --help lists the flags.
func TestRateLimitRefusals(t *testing.T) {
	_, port := backend(t)
	edge := limitEdge(t, nil)
	key := e2e.NewKey(t, t.TempDir(), "id")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no period", []string{"--rate-limit", "100"}, `--rate-limit "100" is not a rate like 100/1m: give requests/period`},
		{"bad period", []string{"--rate-limit", "100/week"}, "the period must be a duration such as 1s, 30s, 1m or 1h"},
		{"too many", []string{"--rate-limit", "2000000/1m"}, "a whole number from 1 to 1000000"},
		{"bad key", []string{"--rate-limit", "5/1m", "--rate-limit-key", "cookie:sid"}, `--rate-limit-key "cookie:sid" is not ip or header:NAME`},
		{"key alone", []string{"--rate-limit-key", "ip"}, "give --rate-limit N/PERIOD too"},
		{"ratio", []string{"--circuit-breaker", "1.5"}, `--circuit-breaker "1.5" is not a ratio: give a number more than 0 and at most 1`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { httpRefused(t, edge, key, port, tc.want, tc.args...) })
	}
	httpHelpLists(t, edge, key, "--rate-limit N/PERIOD", "--rate-limit-key ip|header:NAME", "--circuit-breaker RATIO")
}

// TestRateLimitDisabled: with the ratelimit plugin off, --rate-limit names
// the plugin it needs.
func TestRateLimitDisabled(t *testing.T) {
	e2e.RequireSSH(t)
	_, port := backend(t)
	edge := e2e.StartEdge(t, e2e.EdgeOptions{
		Binary:  e2e.SharedBinary(t),
		Bundled: []sdk.Manifest{ratelimit.New().Manifest()},
	})
	key := e2e.NewKey(t, t.TempDir(), "id")
	httpRefused(t, edge, key, port, "--rate-limit on http endpoints needs the ratelimit plugin, which is not enabled on this server.", "--rate-limit", "5/1m")
}
