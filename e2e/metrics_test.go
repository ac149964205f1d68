package e2e_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/config"
	"github.com/sshgress/sshgress/e2e"
)

// scrape GETs path on the edge's admin listener (no token: it is on
// loopback) and returns the status and up to 4 MiB of the body.
func scrape(t *testing.T, edge *e2e.Edge, path string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + edge.AdminAddr().String() + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		t.Fatalf("GET %s: read: %v", path, err)
	}
	return resp.StatusCode, string(body)
}

// sample returns the value of the series written exactly as series
// (name{label="v",...}, labels in Prometheus' sorted order) in a text
// exposition; -1 when it is absent.
func sample(body, series string) float64 {
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(strings.Fields(v)[0], 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// promtoolCheck runs the real `promtool check metrics` on an exposition.
func promtoolCheck(t *testing.T, body string) {
	t.Helper()
	promtool := e2e.RequireTool(t, "promtool", "prometheus")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestMetricsCountTraffic opens a basic-auth tunnel with a real ssh
// client, sends a visitor without and with credentials through it, and
// checks /metrics: it passes promtool, and logins, tunnels, requests by
// status class, plugin calls, bytes and channels moved as the traffic
// flowed. A refused key counts as a failed login; the tunnel's close
// counts too.
func TestMetricsCountTraffic(t *testing.T) {
	be := &counting{}
	port := serveBackend(t, be)
	ann := e2e.NewKey(t, t.TempDir(), "ann")
	edge := authEdge(t, func(c *config.Config) {
		c.Accounts = []config.Account{{Name: "ann", Keys: []string{ann.AuthorizedKey}}}
	})

	status, before := scrape(t, edge, "/metrics")
	if status != http.StatusOK {
		t.Fatalf("GET /metrics: status %d, want 200:\n%s", status, before)
	}
	promtoolCheck(t, before)
	for _, s := range []string{"go_goroutines", "process_start_time_seconds", "sshgress_ssh_connections"} {
		if sample(before, s) < 0 {
			t.Errorf("/metrics has no %s before any traffic", s)
		}
	}

	s := edge.RunSSH(t, ann, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http", "--basic-auth", "ann:correct-horse")
	url := s.URL(t)
	if got := curl(t, edge, url); got != http.StatusUnauthorized {
		t.Fatalf("without credentials: status %d, want 401", got)
	}
	if got := curl(t, edge, url, "-u", "ann:correct-horse"); got != http.StatusOK {
		t.Fatalf("with credentials: status %d, want 200", got)
	}
	// A key in no account: its login fails.
	stranger := e2e.NewKey(t, t.TempDir(), "stranger")
	out, err := exec.Command("ssh", append(edge.SSHArgs(stranger), "v2@127.0.0.1", "tunnels")...).CombinedOutput()
	if err == nil {
		t.Fatalf("a key in no account logged in:\n%s", out)
	}

	// Counters must have moved by want; gauges (delta false) be at want.
	atLeast := []struct {
		series string
		want   float64
		gauge  bool
	}{
		{`sshgress_http_requests_total{class="4xx",type="http"}`, 1, false},
		{`sshgress_http_requests_total{class="2xx",type="http"}`, 1, false},
		{`sshgress_visitor_requests_total{type="http"}`, 2, false},
		{`sshgress_plugin_calls_total{method="check",plugin="basicauth"}`, 2, false},
		{`sshgress_plugin_calls_total{method="open_tunnel",plugin="basicauth"}`, 1, false},
		{`sshgress_ssh_authentications_total{result="ok"}`, 1, false},
		{`sshgress_ssh_authentications_total{result="failed"}`, 1, false},
		{`sshgress_ssh_connections_refused_total{reason="handshake_failed"}`, 1, false},
		{`sshgress_ssh_connections_accepted_total`, 2, false},
		{`sshgress_ssh_connections`, 1, true},
		{`sshgress_tunnels_opened_total{type="http"}`, 1, false},
		{`sshgress_tunnels{type="http"}`, 1, true},
		{`sshgress_forwarded_channels_opened_total`, 1, false},
		{`sshgress_tunnel_received_bytes_total{type="http"}`, 1, false},
		{`sshgress_tunnel_sent_bytes_total{type="http"}`, float64(len("secret page")), false},
		{`sshgress_http_request_duration_seconds_count{type="http"}`, 2, false},
		{`sshgress_http_edge_duration_seconds_count{type="http"}`, 2, false},
		{`sshgress_http_upstream_duration_seconds_count{type="http"}`, 1, false},
	}
	// The ssh client may exit on "Permission denied" before the edge has
	// counted the refused login: scrape again until every series moved,
	// for at most 10 s, then report what did not.
	var after string
	var problems []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		_, after = scrape(t, edge, "/metrics")
		problems = problems[:0]
		for _, c := range atLeast {
			before, got := max(sample(before, c.series), 0), sample(after, c.series)
			switch {
			case got < 0:
				problems = append(problems, fmt.Sprintf("%s: missing after traffic", c.series))
			case c.gauge && got < c.want:
				problems = append(problems, fmt.Sprintf("%s = %v, want at least %v", c.series, got, c.want))
			case !c.gauge && got-before < c.want:
				problems = append(problems, fmt.Sprintf("%s moved by %v, want at least %v", c.series, got-before, c.want))
			}
		}
		if len(problems) == 0 || time.Now().After(deadline) {
			break
		}
	}
	promtoolCheck(t, after)
	for _, p := range problems {
		t.Error(p)
	}
	// The 401 came from the plugin: only the 200 took upstream time.
	up := `sshgress_http_upstream_duration_seconds_count{type="http"}`
	if got := sample(after, up) - max(sample(before, up), 0); got != 1 {
		t.Errorf("%s moved by %v, want 1 (the 401 never reached the upstream)", up, got)
	}
	if got := sample(after, `sshgress_plugin_call_errors_total{method="check",plugin="basicauth"}`); got != 0 {
		t.Errorf("plugin check errors = %v, want 0", got)
	}

	s.Kill()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := scrape(t, edge, "/metrics")
		closed, open := sample(body, `sshgress_tunnels_closed_total{type="http"}`), sample(body, `sshgress_tunnels{type="http"}`)
		if closed == 1 && open == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("10s after the ssh client ended: tunnels closed %v, open %v; want 1 and 0", closed, open)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestMetricsOff runs an edge with metrics.enabled false: a tunnel still
// serves (basic auth and all), the edge holds no collectors, /metrics
// answers 404 with the sentence that says why, and /healthz and /readyz
// are unchanged. TestMetricsCountTraffic is the same edge with them on.
func TestMetricsOff(t *testing.T) {
	be := &counting{}
	port := serveBackend(t, be)
	ann := e2e.NewKey(t, t.TempDir(), "ann")
	edge := authEdge(t, func(c *config.Config) {
		c.Accounts = []config.Account{{Name: "ann", Keys: []string{ann.AuthorizedKey}}}
		c.Metrics.Enabled = false
	})
	if edge.Metrics() != nil {
		t.Fatal("metrics.enabled false: the edge still built its collectors")
	}
	s := edge.RunSSH(t, ann, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http", "--basic-auth", "ann:correct-horse")
	url := s.URL(t)
	if got := curl(t, edge, url); got != http.StatusUnauthorized {
		t.Fatalf("without credentials: status %d, want 401", got)
	}
	if got := curl(t, edge, url, "-u", "ann:correct-horse"); got != http.StatusOK || be.n.Load() != 1 {
		t.Fatalf("with credentials: status %d, backend saw %d; want 200 and 1", got, be.n.Load())
	}
	if status, body := scrape(t, edge, "/metrics"); status != http.StatusNotFound || !strings.Contains(body, "metrics.enabled is false") {
		t.Errorf("GET /metrics with the metrics off: %d %s, want 404 saying metrics.enabled is false", status, body)
	}
	if status, body := scrape(t, edge, "/healthz"); status != http.StatusOK {
		t.Errorf("GET /healthz with the metrics off: %d %s, want 200", status, body)
	}
	if status, notReady := readyz(t, edge); status != http.StatusOK {
		t.Errorf("GET /readyz with the metrics off: %d, not ready %v; want 200", status, notReady)
	}
}

// readyz GETs /readyz and decodes its body.
func readyz(t *testing.T, edge *e2e.Edge) (int, []string) {
	t.Helper()
	status, body := scrape(t, edge, "/readyz")
	var r struct {
		Ready    bool     `json:"ready"`
		NotReady []string `json:"not_ready"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("/readyz body is not JSON: %v\n%s", err, body)
	}
	if r.Ready != (status == http.StatusOK) {
		t.Fatalf("/readyz: status %d but ready %v", status, r.Ready)
	}
	return status, r.NotReady
}

// TestReadyzFollowsPlugin checks /healthz, and that /readyz is 200 with
// the basic-auth plugin up, 503 naming it while its process is stopped
// and then killed, and 200 again once the host has restarted it (counted
// in sshgress_plugin_restarts_total).
func TestReadyzFollowsPlugin(t *testing.T) {
	edge := authEdge(t, nil)
	bin := e2e.SharedBinary(t)
	if status, body := scrape(t, edge, "/healthz"); status != http.StatusOK {
		t.Fatalf("/healthz: status %d, want 200: %s", status, body)
	}
	if status, notReady := readyz(t, edge); status != http.StatusOK {
		t.Fatalf("/readyz with every part up: status %d, not ready %v; want 200", status, notReady)
	}
	pids := e2e.Processes(bin, "plugin", "basicauth")
	if len(pids) != 1 {
		t.Fatalf("%d basicauth processes, want 1", len(pids))
	}
	// Stopped, the plugin's process still runs but cannot answer; then
	// killed, it is gone until the host restarts it. The first is the
	// state a probe must catch, the second the one it must recover from.
	syscall.Kill(pids[0], syscall.SIGSTOP)
	if !waitStopped(pids[0], 5*time.Second) {
		syscall.Kill(pids[0], syscall.SIGKILL)
		t.Fatal("the plugin's threads not all stopped 5s after SIGSTOP")
	}
	status, notReady := readyz(t, edge)
	syscall.Kill(pids[0], syscall.SIGKILL)
	if status != http.StatusServiceUnavailable || !slices.Contains(notReady, "plugin basicauth") {
		t.Fatalf("/readyz with the plugin stopped: status %d, not ready %v; want 503 naming plugin basicauth", status, notReady)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, notReady = readyz(t, edge)
		if status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz 10s after the kill: status %d, not ready %v; want 200 once the plugin restarted", status, notReady)
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, body := scrape(t, edge, "/metrics")
	if got := sample(body, `sshgress_plugin_restarts_total{plugin="basicauth"}`); got != 1 {
		t.Errorf("sshgress_plugin_restarts_total{plugin=\"basicauth\"} = %v, want 1", got)
	}
	if pids := e2e.Processes(bin, "plugin", "basicauth"); len(pids) != 1 {
		t.Errorf("%d basicauth processes after the restart, want 1", len(pids))
	}
}

// TestStatusCommand runs the real `sshgress status` against an edge with
// a basic-auth tunnel that answered one 401: its screen shows the edge
// ready, the open SSH connection, the tunnel by type, the 4xx and the
// plugin up; --json carries the same.
func TestStatusCommand(t *testing.T) {
	be := &counting{}
	port := serveBackend(t, be)
	edge := authEdge(t, nil)
	bin := e2e.SharedBinary(t)
	key := e2e.NewKey(t, t.TempDir(), "id")
	s := edge.RunSSH(t, key, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http", "--basic-auth", "ann:correct-horse")
	if got := curl(t, edge, s.URL(t)); got != http.StatusUnauthorized {
		t.Fatalf("without credentials: status %d, want 401", got)
	}
	status := func(args ...string) string {
		t.Helper()
		full := append([]string{"status", "--addr", edge.AdminAddr().String(), "--token-file", edge.Cfg.AdminTokenPath()}, args...)
		cmd := exec.Command(bin, full...)
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		done := make(chan error, 1)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("sshgress status %v: %v\nstderr: %s", args, err, errb.String())
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("sshgress status %v did not end within 30s", args)
		}
		return out.String()
	}
	screen := status("--interval", "100ms")
	t.Logf("sshgress status:\n%s", screen)
	for _, want := range []string{"(ready)", "Uptime", "SSH ", "1 open", "logins 1 ok", "http 1", "4xx 1", "/s now", "basicauth up, 0 restarts"} {
		if !strings.Contains(screen, want) {
			t.Errorf("status screen lacks %q:\n%s", want, screen)
		}
	}
	var st struct {
		Ready    bool             `json:"ready"`
		Tunnels  map[string]int64 `json:"tunnels"`
		Requests map[string]int64 `json:"requests_by_class"`
		Plugins  []struct {
			Name string `json:"name"`
			OK   bool   `json:"ok"`
		} `json:"plugins"`
	}
	raw := status("--interval", "0", "--json")
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, raw)
	}
	if !st.Ready || st.Tunnels["http"] != 1 || st.Requests["4xx"] != 1 || len(st.Plugins) != 1 || st.Plugins[0].Name != "basicauth" || !st.Plugins[0].OK {
		t.Errorf("status --json = %+v, want ready, 1 http tunnel, one 4xx, basicauth up", st)
	}
}

// TestMetricsCountLimitHits: with one tunnel allowed per account, a
// second forward is refused and counted under its limit.
func TestMetricsCountLimitHits(t *testing.T) {
	be := &counting{}
	port := serveBackend(t, be)
	edge := authEdge(t, func(c *config.Config) { c.Limits.TunnelsPerAccount = 1 })
	key := e2e.NewKey(t, t.TempDir(), "id")
	s := edge.RunSSH(t, key, "-R", "80:localhost:"+port, "-R", "443:localhost:"+port, "v2@127.0.0.1", "http")
	if code := s.Wait(15 * time.Second); code == 0 || code == -1 {
		t.Fatalf("two forwards with a limit of one tunnel: ssh exit status %d (-1: still running after 15s), want a refusal", code)
	}
	_, body := scrape(t, edge, "/metrics")
	if got := sample(body, `sshgress_limit_hits_total{limit="tunnels_per_account"}`); got < 1 {
		t.Errorf(`sshgress_limit_hits_total{limit="tunnels_per_account"} = %v, want at least 1`, got)
	}
}

// TestMetricsCertificateExpiry: an https request to a tunnel sets the
// expiry series of the name its certificate was served for, at the
// certificate's own NotAfter.
func TestMetricsCertificateExpiry(t *testing.T) {
	be := &counting{}
	port := serveBackend(t, be)
	edge := authEdge(t, nil)
	key := e2e.NewKey(t, t.TempDir(), "id")
	s := edge.RunSSH(t, key, "-R", "443:localhost:"+port, "v2@127.0.0.1", "http")
	url := s.URL(t)
	if !strings.HasPrefix(url, "https://") {
		t.Fatalf("a forward of port 443 got %s, want an https URL", url)
	}
	resp, err := edge.HTTPSClient(t, e2e.RootPool(t, edge.LocalCARoot())).Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 {
		t.Fatal("no TLS certificate seen")
	}
	host, _, _ := strings.Cut(e2e.Host(url), ":")
	_, body := scrape(t, edge, "/metrics")
	series := `sshgress_certificate_expiry_timestamp_seconds{name="` + host + `"}`
	if got, want := sample(body, series), float64(resp.TLS.PeerCertificates[0].NotAfter.Unix()); got != want {
		t.Errorf("%s = %v, want the certificate's NotAfter %v", series, got, want)
	}
}

// TestMetricsCountTCP: a connection through a tcp tunnel (a plugin's
// endpoint type) counts under type="tcp": the tunnel, the connection, the
// bytes both ways and the plugin's bind call.
func TestMetricsCountTCP(t *testing.T) {
	echo, _ := echoServer(t)
	edge := endpointEdge(t, nil)
	key := e2e.NewKey(t, t.TempDir(), "id")
	s := edge.RunSSH(t, key, "-R", "0:localhost:"+echo, "v2@127.0.0.1", "tcp")
	url := s.URL(t)
	c, err := net.Dial("tcp", tcpAddr(t, url))
	if err != nil {
		t.Fatal(err)
	}
	const n = 64 << 10
	roundTrip(t, c, n)
	c.Close()
	s.WaitOutput(t, "TCP  127.0.0.1", 5*time.Second) // the connection has ended
	_, body := scrape(t, edge, "/metrics")
	promtoolCheck(t, body)
	for _, c := range []struct {
		series string
		want   float64
	}{
		{`sshgress_tunnels{type="tcp"}`, 1},
		{`sshgress_tunnels_opened_total{type="tcp"}`, 1},
		{`sshgress_visitor_requests_total{type="tcp"}`, 1},
		{`sshgress_tunnel_received_bytes_total{type="tcp"}`, n},
		{`sshgress_tunnel_sent_bytes_total{type="tcp"}`, n},
		{`sshgress_plugin_calls_total{method="bind",plugin="tcp"}`, 1},
	} {
		if got := sample(body, c.series); got < c.want {
			t.Errorf("%s = %v, want at least %v", c.series, got, c.want)
		}
	}
}
