// Command bench measures sshgress side by side with OpenSSH's own remote
// forwarding (sshd + ssh -R) and with the backend reached directly, in
// one run on one machine, and prints a Markdown table and one JSON line.
//
// Run it from the repository:
//
//	go run ./bench            # full run: 3 interleaved repetitions, a few minutes
//	go run ./bench -quick     # every step once, briefly (CI smoke; no timing asserts)
//	go run ./bench -cpuprofile /tmp/edge.pprof   # also profile the edge
//
// It builds cmd/sshgress, starts a local backend, a private sshd (its own
// config, host key and authorized_keys in a temp dir, loopback only) and
// sshgress edges, connects real OpenSSH clients with -R to both, and drives
// them with wrk and Go clients. Every process it starts runs in its own
// process group and is killed at the end. See docs/performance.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// options are the harness's settings.
type options struct {
	quick      bool
	reps       int
	dur        time.Duration // 50-connection runs
	dur1       time.Duration // one-connection runs
	conns      int
	dlBytes    int64
	tcpBytes   int64
	idle       []int
	cpuprofile string
	repo       string
	keep       bool
	steps      map[string]bool // which steps run; see allSteps
}

// allSteps names the steps of a repetition, in the order they run.
var allSteps = []string{"http", "one", "download", "cipher", "tcp", "auth", "compress", "pool", "observe", "first200", "idle"}

// stepFigures names the figures each step produces.
var stepFigures = map[string][]string{
	"http":     {"http_rps", "http_p50", "http_p99", "cpu_edge", "cpu_client", "calls_edge", "calls_client", "cpu_backend", "cpu_wrk", "idle_pct"},
	"one":      {"one_p50", "one_p99"},
	"download": {"dl_default"},
	"cipher":   {"dl_chacha", "dl_aes", "dl_aes_cpu_edge", "dl_aes_cpu_client", "http_rps_chacha", "http_rps_aes", "cpu_edge_aes"},
	"tcp":      {"tcp"},
	"auth":     {"auth_off", "auth_on", "cidr_on", "headers_on"},
	"compress": {"compress_off", "compress_on", "compress_on_br", "compress_wire_gzip", "compress_wire_br"},
	"pool":     {"pool_off", "pool_on", "pool_share_1", "pool_share_2", "pool_share_3"}, // poolShareKey(1…poolSize)
	"observe":  {"obs_off", "obs_metrics", "obs_access", "obs_inspect", "obs_all"},      // observeKeys
	"first200": {"first200_session", "first200_n"},
	"idle":     {"rss_per_tunnel", "idle_cpu"}, // and rss_N
}

func main() {
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, o, os.Stderr)
	if rep != nil {
		rep.writeTable(os.Stdout)
		fmt.Fprintln(os.Stdout)
		_ = rep.writeJSON(os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if m := rep.missing(); len(m) > 0 {
		fmt.Fprintln(os.Stderr, "bench: no number for:", strings.Join(m, ", "))
		os.Exit(1)
	}
}

// parseFlags reads the command line; -quick changes the defaults of the
// other flags, which still override it.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "run every step once and briefly (CI smoke: seconds); asserts no timings")
	reps := fs.Int("reps", 0, "interleaved repetitions (default 3, or 1 with -quick)")
	dur := fs.Duration("duration", 0, "length of each 50-connection wrk run (default 10s, or 1s with -quick)")
	dur1 := fs.Duration("duration1", 0, "length of each one-connection wrk run (default 5s, or 1s with -quick)")
	conns := fs.Int("conns", 50, "wrk connections for the throughput runs")
	dlMiB := fs.Int("download-mib", 0, "size of the HTTP download in MiB (default 100, or 8 with -quick)")
	tcpMiB := fs.Int("tcp-mib", 0, "size of the raw TCP download in MiB (default 1024, or 16 with -quick)")
	idle := fs.String("idle", "", "idle tunnel counts for the RSS figures (default 1,100,1000, or 1,10,50 with -quick)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the edge during an extra sshgress 50-connection run to `file` (and its top functions to file.txt)")
	repo := fs.String("repo", "", "sshgress repository root (default: found above the working directory)")
	keep := fs.Bool("keep", false, "keep the temp dir (logs, configs, keys)")
	steps := fs.String("steps", strings.Join(allSteps, ","), "comma-separated steps to run")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "bench: unexpected arguments:", fs.Args())
		return options{}, errors.New("bench: unexpected arguments")
	}
	o := options{quick: *quick, reps: 3, dur: 10 * time.Second, dur1: 5 * time.Second, conns: *conns,
		dlBytes: 100 << 20, tcpBytes: 1 << 30, idle: []int{1, 100, 1000},
		cpuprofile: *cpuprofile, repo: *repo, keep: *keep}
	if o.quick {
		o.reps, o.dur, o.dur1, o.dlBytes, o.tcpBytes, o.idle = 1, time.Second, time.Second, 8<<20, 16<<20, []int{1, 10, 50}
	}
	o.steps = map[string]bool{}
	for _, st := range strings.Split(*steps, ",") {
		st = strings.TrimSpace(st)
		if _, ok := stepFigures[st]; !ok {
			fmt.Fprintf(stderr, "bench: -steps: unknown step %q (steps: %s)\n", st, strings.Join(allSteps, ","))
			return options{}, errors.New("bench: bad -steps")
		}
		o.steps[st] = true
	}
	if *reps > 0 {
		o.reps = *reps
	}
	if *dur > 0 {
		o.dur = *dur
	}
	if *dur1 > 0 {
		o.dur1 = *dur1
	}
	if *dlMiB > 0 {
		o.dlBytes = int64(*dlMiB) << 20
	}
	if *tcpMiB > 0 {
		o.tcpBytes = int64(*tcpMiB) << 20
	}
	if *idle != "" {
		o.idle = nil
		for _, s := range strings.Split(*idle, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n < 1 || n > 5000 {
				fmt.Fprintf(stderr, "bench: -idle: %q is not a count from 1 to 5000\n", s)
				return options{}, errors.New("bench: bad -idle")
			}
			o.idle = append(o.idle, n)
		}
	}
	if o.reps > 50 || o.conns < 1 || o.conns > 1000 {
		fmt.Fprintln(stderr, "bench: -reps at most 50, -conns 1 to 1000")
		return options{}, errors.New("bench: bad flags")
	}
	return o, nil
}

// command returns the command line that reproduces o, for the report.
func (o options) command() string {
	s := "go run ./bench"
	if o.quick {
		s += " -quick"
	}
	if o.cpuprofile != "" {
		s += " -cpuprofile " + o.cpuprofile
	}
	if len(o.steps) < len(allSteps) {
		var st []string
		for _, name := range allSteps {
			if o.steps[name] {
				st = append(st, name)
			}
		}
		s += " -steps " + strings.Join(st, ",")
	}
	return s
}
