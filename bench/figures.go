package main

import (
	"fmt"
	"math"
	"strconv"
)

// figureDefs lists the rows of the table, in order.
func figureDefs(o options) []figureDef {
	all := []string{tDirect, tSSHD, tGress}
	both := []string{tSSHD, tGress}
	gress := []string{tGress}
	ratioAtLeast := func(x float64) func(*Figure) bool { return func(f *Figure) bool { return *f.Ratio >= x } }
	ratioAtMost := func(x float64) func(*Figure) bool { return func(f *Figure) bool { return *f.Ratio <= x } }
	gressAtMost := func(x float64) func(*Figure) bool {
		return func(f *Figure) bool { return f.Values[tGress].Median <= x }
	}
	c := strconv.Itoa(o.conns)
	dl := fmt.Sprintf("%d MiB", o.dlBytes>>20)
	defs := []figureDef{
		{key: "http_rps", name: "HTTP 1 KiB × " + c + " conns", unit: "req/s", higher: true, want: all, target: "≥ 1.0× sshd", met: ratioAtLeast(1.0)},
		{key: "http_p50", name: "… p50", unit: "ms", want: all},
		{key: "http_p99", name: "… p99", unit: "ms", want: all},
		{key: "one_p50", name: "HTTP 1 KiB × 1 conn p50", unit: "ms", want: all},
		{key: "one_p99", name: "HTTP 1 KiB × 1 conn p99", unit: "ms", want: all, target: "≤ 5 ms", met: gressAtMost(5)},
		{key: "cpu_edge", name: "CPU per request: edge (sshgress) / sshd", unit: "µs", want: both, target: "≤ 1.0× sshd", met: ratioAtMost(1.0)},
		{key: "cpu_client", name: "CPU per request: ssh client", unit: "µs", want: both, target: "≤ 1.1× behind sshd", met: ratioAtMost(1.1)},
		{key: "calls_edge", name: "read+write syscalls per request: edge / sshd", unit: "calls", want: both, target: "≤ 3", met: gressAtMost(3)},
		{key: "calls_client", name: "read+write syscalls per request: ssh client", unit: "calls", want: both},
		{key: "cpu_backend", name: "CPU per request: backend (harness process)", unit: "µs", want: all},
		{key: "cpu_wrk", name: "CPU per request: wrk", unit: "µs", want: all},
		{key: "idle_pct", name: "machine idle during the " + c + "-conn run", unit: "%", want: all},
		{key: "dl_default", name: dl + " download, each side's default cipher", unit: "MB/s", higher: true, want: all, target: "≥ 1.2× sshd", met: ratioAtLeast(1.2)},
		{key: "dl_chacha", name: dl + " download, chacha20-poly1305", unit: "MB/s", higher: true, want: both, target: "≥ 1.0× sshd", met: ratioAtLeast(1.0)},
		{key: "dl_aes", name: dl + " download, aes128-gcm", unit: "MB/s", higher: true, want: both, target: "≥ 1.0× sshd", met: ratioAtLeast(1.0)},
		{key: "dl_aes_cpu_edge", name: "CPU per 100 MiB downloaded, aes128-gcm: edge (sshgress) / sshd", unit: "ms", want: both},
		{key: "dl_aes_cpu_client", name: "CPU per 100 MiB downloaded, aes128-gcm: ssh client", unit: "ms", want: both},
		{key: "http_rps_chacha", name: "HTTP req/s × " + c + ", chacha20-poly1305", unit: "req/s", higher: true, want: both},
		{key: "http_rps_aes", name: "HTTP req/s × " + c + ", aes128-gcm", unit: "req/s", higher: true, want: both},
		{key: "cpu_edge_aes", name: "CPU per request: edge / sshd, aes128-gcm", unit: "µs", want: both},
		{key: "tcp", name: fmt.Sprintf("raw TCP %d MiB (sshgress: tcp plugin)", o.tcpBytes>>20), unit: "MB/s", higher: true, want: all, target: "≥ 1.0× sshd", met: ratioAtLeast(1.0)},
		{key: "first200_session", name: "ssh start → first 200, with a session", unit: "ms", want: both, target: "≤ 150 ms", met: gressAtMost(150)},
		{key: "first200_n", name: "ssh start → first 200, -N", unit: "ms", want: both, target: "≤ 700 ms", met: gressAtMost(700)},
	}
	for _, n := range o.idle {
		defs = append(defs, figureDef{key: "rss_" + strconv.Itoa(n), name: fmt.Sprintf("edge RSS, %d idle tunnel(s)", n), unit: "MiB", want: gress})
	}
	maxIdle := o.idle[len(o.idle)-1]
	defs = append(defs,
		figureDef{key: "rss_per_tunnel", name: fmt.Sprintf("RSS per idle tunnel at %d", maxIdle), unit: "KiB", want: gress, target: "≤ 64 KiB", met: gressAtMost(64)},
		figureDef{key: "idle_cpu", name: fmt.Sprintf("edge CPU with %d idle tunnels", maxIdle), unit: "% of a core", want: gress},
		figureDef{key: "auth_off", name: "HTTP req/s × " + c + ", basic-auth plugin enabled, flag off", unit: "req/s", higher: true, want: gress},
		figureDef{key: "auth_on", name: "HTTP req/s × " + c + ", --basic-auth on", unit: "req/s", higher: true, want: gress, target: "≥ 0.95× off", met: ratioAtLeast(0.95), base: "auth_off", ratioOf: "on/off"},
		figureDef{key: "cidr_on", name: "HTTP req/s × " + c + ", --cidr-allow/--cidr-deny/--ua-filter-deny on (static rules)", unit: "req/s", higher: true, want: gress, target: "≥ 0.95× off", met: ratioAtLeast(0.95), base: "auth_off", ratioOf: "on/off"},
		figureDef{key: "headers_on", name: "HTTP req/s × " + c + ", --request-header-add/-remove, --response-header-add/-remove, --host-header on (static edits)", unit: "req/s", higher: true, want: gress, target: "≥ 0.95× off", met: ratioAtLeast(0.95), base: "auth_off", ratioOf: "on/off"},
		figureDef{key: "pool_off", name: "HTTP req/s × " + c + ", one tunnel (the pool row's base)", unit: "req/s", higher: true, want: gress},
		figureDef{key: "pool_on", name: "HTTP req/s × " + c + ", a pool of " + strconv.Itoa(poolSize) + " (--pooling-enabled, one backend each)", unit: "req/s", higher: true, want: gress, base: "pool_off", ratioOf: "pool/one"},
	)
	for i := 1; i <= poolSize; i++ {
		defs = append(defs, figureDef{key: poolShareKey(i), name: fmt.Sprintf("… member %d's share of the pool's requests", i), unit: "%", want: gress,
			target: fmt.Sprintf("%.0f %% ± %.0f %%", 100.0/poolSize, poolShareSlack), met: gressWithin(100.0/poolSize, poolShareSlack)})
	}
	defs = append(defs,
		figureDef{key: "obs_off", name: "HTTP req/s × " + c + ", metrics, access log and inspector off", unit: "req/s", higher: true, want: gress},
		figureDef{key: "obs_metrics", name: "HTTP req/s × " + c + ", metrics on (access log, inspector off)", unit: "req/s", higher: true, want: gress, target: "≥ 0.97× off", met: ratioAtLeast(0.97), base: "obs_off", ratioOf: "on/off"},
		figureDef{key: "obs_access", name: "HTTP req/s × " + c + ", metrics and access log (to a file) on, inspector off", unit: "req/s", higher: true, want: gress, base: "obs_off", ratioOf: "on/off"},
		figureDef{key: "obs_inspect", name: "HTTP req/s × " + c + ", metrics and inspector on, access log off", unit: "req/s", higher: true, want: gress, base: "obs_off", ratioOf: "on/off"},
		figureDef{key: "obs_all", name: "HTTP req/s × " + c + ", metrics, access log (to a file) and inspector on", unit: "req/s", higher: true, want: gress, target: "≥ 0.97× off", met: ratioAtLeast(0.97), base: "obs_off", ratioOf: "on/off"},
	)
	defs = append(defs, compressFigureDefs(c, jsonBytes)...)
	return defs
}

// The pool rows: members in the pool, and how far (in percentage points)
// each member's share of the requests may be from an even split.
const (
	poolSize       = 3
	poolShareSlack = 10.0
)

// poolShareKey names member i's (from 1) share row.
func poolShareKey(i int) string { return "pool_share_" + strconv.Itoa(i) }

// gressWithin checks that the sshgress median is within slack of want.
func gressWithin(want, slack float64) func(*Figure) bool {
	return func(f *Figure) bool { return math.Abs(f.Values[tGress].Median-want) <= slack }
}

// httpTarget is one way to reach the backend's HTTP server.
type httpTarget struct {
	name    string // direct, sshd or sshgress
	base    string // http://127.0.0.1:PORT
	host    string // Host header ("" for direct and sshd)
	headers []string
	edge    int // pid whose tree is the edge (sshd master or sshgress)
	client  int // pid of the ssh client
	err     error
}

// roles maps CPU roles to process-tree roots for runWrk.
func (t *httpTarget) roles() map[string][]int {
	r := map[string][]int{}
	if t.edge > 0 {
		r["edge"] = []int{t.edge}
	}
	if t.client > 0 {
		r["client"] = []int{t.client}
	}
	return r
}

// when returns ts if cond holds, else nothing: a step that is not
// selected iterates over no targets.
func when[T any](cond bool, ts []T) []T {
	if !cond {
		return nil
	}
	return ts
}

// rotate returns ts starting at index i mod len, so each repetition runs
// the targets in a different order.
func rotate[T any](ts []T, i int) []T {
	if len(ts) == 0 {
		return ts
	}
	i %= len(ts)
	return append(append([]T(nil), ts[i:]...), ts[:i]...)
}
