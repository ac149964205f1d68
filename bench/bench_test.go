package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestQuickSmoke runs `go run ./bench -quick` in-process: every step must
// produce a number and none may be skipped (the tcp plugin is bundled). It
// asserts no timings. Without ssh, sshd or wrk
// it skips, except under CI=true, where it fails.
func TestQuickSmoke(t *testing.T) {
	if err := checkTools(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but the benchmark cannot run: %v", err)
		}
		t.Skipf("skipping the benchmark smoke: %v", err)
	}
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	o, err := parseFlags([]string{"-quick"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var progress bytes.Buffer
	rep, err := run(ctx, o, &progress)
	t.Log(progress.String())
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	var table bytes.Buffer
	rep.writeTable(&table)
	t.Log("\n" + table.String())
	if m := rep.missing(); len(m) > 0 {
		t.Errorf("steps without a number: %s", strings.Join(m, ", "))
	}
	for _, f := range rep.Figures {
		if f.Skipped != "" {
			t.Errorf("%s skipped (%s); -quick runs every step", f.Key, f.Skipped)
		}
		if len(f.Errors) > 0 {
			t.Errorf("%s failed: %s", f.Key, strings.Join(f.Errors, "; "))
		}
	}
	if !strings.HasPrefix(table.String(), "| figure |") {
		t.Errorf("table starts with %q, want a Markdown header", firstLine(table.String()))
	}
	var js bytes.Buffer
	if err := rep.writeJSON(&js); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(js.String(), "\n"); n != 1 {
		t.Errorf("JSON output has %d newlines, want 1", n)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Errorf("JSON line does not parse: %v", err)
	}
	if got, want := len(back.Figures), len(rep.Figures); got != want {
		t.Errorf("JSON has %d figures, want %d", got, want)
	}
	// Every process the run started is gone.
	if tree := processTree(os.Getpid()); len(tree) != 1 {
		t.Errorf("processes left behind: %v", tree[1:])
	}
}

const wrkSample = `Running 1s test @ http://127.0.0.1:8080/1k
  2 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.12ms    1.05ms  20.01ms   80.00%
    Req/Sec     8.10k   512.00     9.00k    70.00%
  Latency Distribution
     50%    2.90ms
     75%    3.50ms
     90%    4.20ms
     99%  812.00us
  16200 requests in 1.00s, 18.50MB read
Requests/sec:  16180.55
Transfer/sec:     18.48MB
Responses outside 2xx: 0
`

func TestParseWrk(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    wrkResult
		wantErr string
	}{
		{name: "ok", out: wrkSample, want: wrkResult{rps: 16180.55, p50: 2.9, p99: 0.812, requests: 16200}},
		{name: "non-2xx", out: strings.Replace(wrkSample, "Requests/sec", "  Non-2xx or 3xx responses: 12\nRequests/sec", 1), wantErr: "Non-2xx"},
		{name: "3xx", out: strings.Replace(wrkSample, "Responses outside 2xx: 0", "Responses outside 2xx: 7", 1), wantErr: "7 responses outside 2xx"},
		{name: "no status line", out: strings.Replace(wrkSample, "Responses outside 2xx: 0\n", "", 1), wantErr: "status script"},
		{name: "socket errors", out: strings.Replace(wrkSample, "Requests/sec", "  Socket errors: connect 0, read 3, write 0, timeout 0\nRequests/sec", 1), wantErr: "Socket errors"},
		{name: "no latency", out: strings.Replace(wrkSample, "     99%  812.00us\n", "", 1), wantErr: "unexpected output"},
		{name: "empty", out: "", wantErr: "unexpected output"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got wrkResult
			err := parseWrk(tt.out, &got)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseWrk error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseWrk: %v", err)
			}
			if !approxEqual(got.rps, tt.want.rps) || !approxEqual(got.p50, tt.want.p50) || !approxEqual(got.p99, tt.want.p99) || got.requests != tt.want.requests {
				t.Errorf("parseWrk = rps %v p50 %v p99 %v requests %v, want %v %v %v %v",
					got.rps, got.p50, got.p99, got.requests, tt.want.rps, tt.want.p50, tt.want.p99, tt.want.requests)
			}
		})
	}
}

func approxEqual(a, b float64) bool { return math.Abs(a-b) < 1e-9*math.Max(1, math.Abs(b)) }

func TestParseWrkDuration(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		ok   bool
	}{
		{"812.00us", 0.812, true},
		{"7.20ms", 7.2, true},
		{"1.02s", 1020, true},
		{"1.50m", 90000, true},
		{"2.00h", 7.2e6, true},
		{"3.0", 0, false},
		{"ms", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseWrkDuration(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("parseWrkDuration(%q) error = %v, want ok=%v", tt.in, err, tt.ok)
			}
			if tt.ok && !approxEqual(got, tt.want) {
				t.Errorf("parseWrkDuration(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestStat(t *testing.T) {
	tests := []struct {
		name          string
		in            []float64
		med, min, max float64
	}{
		{"one", []float64{5}, 5, 5, 5},
		{"odd", []float64{3, 1, 2}, 2, 1, 3},
		{"even", []float64{4, 1, 3, 2}, 2.5, 1, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := stat(tt.in)
			if s.Median != tt.med || s.Min != tt.min || s.Max != tt.max {
				t.Errorf("stat(%v) = %v/%v/%v, want %v/%v/%v", tt.in, s.Median, s.Min, s.Max, tt.med, tt.min, tt.max)
			}
		})
	}
}

func TestParseForwarding(t *testing.T) {
	tests := []struct {
		name, line, scheme string
		host, addr         string
	}{
		{"http", "Forwarding  http://abc.localhost:8080 -> the local target of your -R 80", "http://", "abc.localhost:8080", ""},
		{"tcp", "Forwarding  tcp://localhost:40001 -> localhost:22", "tcp://", "", "127.0.0.1:40001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseForwarding(nil, tt.line, tt.scheme)
			if err != nil {
				t.Fatalf("parseForwarding: %v", err)
			}
			if got.host != tt.host || got.addr != tt.addr {
				t.Errorf("parseForwarding(%q) = host %q addr %q, want %q %q", tt.line, got.host, got.addr, tt.host, tt.addr)
			}
		})
	}
}

func FuzzParseWrk(f *testing.F) {
	f.Add(wrkSample)
	f.Add("Requests/sec: x\n 50% 1ms\n")
	f.Fuzz(func(t *testing.T, out string) {
		var r wrkResult
		if err := parseWrk(out, &r); err == nil && r.requests <= 0 {
			t.Errorf("parseWrk accepted output with %v requests", r.requests)
		}
	})
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		ok   bool
		reps int
	}{
		{"default", nil, true, 3},
		{"quick", []string{"-quick"}, true, 1},
		{"quick reps", []string{"-quick", "-reps", "2"}, true, 2},
		{"bad step", []string{"-steps", "nope"}, false, 0},
		{"bad idle", []string{"-idle", "0"}, false, 0},
		{"extra arg", []string{"x"}, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseFlags(tt.args, io.Discard)
			if (err == nil) != tt.ok {
				t.Fatalf("parseFlags(%v) error = %v, want ok=%v", tt.args, err, tt.ok)
			}
			if tt.ok && o.reps != tt.reps {
				t.Errorf("parseFlags(%v) reps = %d, want %d", tt.args, o.reps, tt.reps)
			}
		})
	}
}

// TestWrkCountsEveryNon2xx runs the real wrk with the status script
// against a local server: a redirect (which wrk alone counts as a
// success) fails the run like a 404 does, and a 200 passes.
func TestWrkCountsEveryNon2xx(t *testing.T) {
	if _, err := exec.LookPath("wrk"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but wrk is missing (Debian wrk): %v", err)
		}
		t.Skipf("wrk missing: %v", err)
	}
	tests := []struct {
		status  int
		wantErr string
	}{
		{200, ""},
		{302, "responses outside 2xx"},
		{304, "responses outside 2xx"},
		{404, "bench: wrk:"},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.status/100 == 3 {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(tt.status)
			}))
			defer srv.Close()
			ps := &procSet{}
			defer ps.killAll()
			e := &env{dir: t.TempDir(), ps: ps, progress: io.Discard}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			r, err := e.runWrk(ctx, srv.URL+"/1k", "", nil, 2, time.Second, nil)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("runWrk against a 200: %v", err)
				}
				if r.requests <= 0 {
					t.Fatalf("runWrk against a 200: %v requests", r.requests)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("runWrk against a %d: error %v, want one containing %q", tt.status, err, tt.wantErr)
			}
		})
	}
}

// TestSummariseRatios checks the rows measured against a base row in the
// same run (on/off, pool/one) and the pool's share targets.
func TestSummariseRatios(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		samples   map[string][]float64 // sshgress samples by key
		key       string
		wantRatio float64 // 0: no ratio
		wantOf    string
		wantMet   string // "yes", "no" or "" (no target or not known)
	}{
		{"metrics on within 3 %", map[string][]float64{"obs_off": {100, 90, 110}, "obs_metrics": {98}}, "obs_metrics", 0.98, "on/off", "yes"},
		{"everything on 10 % slower", map[string][]float64{"obs_off": {100}, "obs_all": {90}}, "obs_all", 0.90, "on/off", "no"},
		{"no base measured", map[string][]float64{"obs_all": {90}}, "obs_all", 0, "", ""},
		{"pool over one tunnel", map[string][]float64{"pool_off": {200}, "pool_on": {150}}, "pool_on", 0.75, "pool/one", ""},
		{"auth keeps its base", map[string][]float64{"auth_off": {100}, "auth_on": {95}}, "auth_on", 0.95, "on/off", "yes"},
		{"share even", map[string][]float64{poolShareKey(1): {33.3}}, poolShareKey(1), 0, "", "yes"},
		{"share at the edge", map[string][]float64{poolShareKey(2): {23.4}}, poolShareKey(2), 0, "", "yes"},
		{"share too small", map[string][]float64{poolShareKey(3): {20}}, poolShareKey(3), 0, "", "no"},
		{"share too large", map[string][]float64{poolShareKey(1): {50}}, poolShareKey(1), 0, "", "no"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := newResults(figureDefs(o))
			for k, vs := range tt.samples {
				for _, v := range vs {
					res.add(k, tGress, v)
				}
			}
			var f *Figure
			for _, g := range res.summarise() {
				if g.Key == tt.key {
					f = g
				}
			}
			if f == nil {
				t.Fatalf("no figure %q", tt.key)
			}
			switch {
			case tt.wantRatio == 0 && f.Ratio != nil:
				t.Errorf("%s: ratio %v %s, want none", tt.key, *f.Ratio, f.RatioOf)
			case tt.wantRatio != 0 && (f.Ratio == nil || math.Abs(*f.Ratio-tt.wantRatio) > 1e-9 || f.RatioOf != tt.wantOf):
				t.Errorf("%s: ratio %v %q, want %v %q", tt.key, f.Ratio, f.RatioOf, tt.wantRatio, tt.wantOf)
			}
			met := ""
			if f.Met != nil {
				met = map[bool]string{true: "yes", false: "no"}[*f.Met]
			}
			if met != tt.wantMet {
				t.Errorf("%s: met %q, want %q", tt.key, met, tt.wantMet)
			}
		})
	}
}

// TestShares checks each pool member's share of the requests counted
// between two readings.
func TestShares(t *testing.T) {
	tests := []struct {
		name          string
		before, after []int64
		want          []float64
		ok            bool
	}{
		{"even", []int64{10, 20, 30}, []int64{110, 120, 130}, []float64{100.0 / 3, 100.0 / 3, 100.0 / 3}, true},
		{"uneven", []int64{0, 0, 0}, []int64{50, 25, 25}, []float64{50, 25, 25}, true},
		{"one idle member", []int64{5, 5, 5}, []int64{5, 15, 15}, []float64{0, 50, 50}, true},
		{"nothing counted", []int64{5, 5, 5}, []int64{5, 5, 5}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := shares(tt.before, tt.after)
			if (err == nil) != tt.ok {
				t.Fatalf("shares(%v, %v) error %v, want ok=%v", tt.before, tt.after, err, tt.ok)
			}
			for i := range tt.want {
				if math.Abs(got[i]-tt.want[i]) > 1e-9 {
					t.Errorf("shares(%v, %v) = %v, want %v", tt.before, tt.after, got, tt.want)
					break
				}
			}
		})
	}
}

// TestStepFiguresAreRows keeps stepFigures and figureDefs in step: every
// figure a step names is a row of the table.
func TestStepFiguresAreRows(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	res := newResults(figureDefs(o))
	for st, keys := range stepFigures {
		for _, k := range keys {
			if !res.wants(k) {
				t.Errorf("step %s names %q, which is no row of figureDefs", st, k)
			}
		}
	}
	for i := 1; i <= poolSize; i++ {
		if !slices.Contains(stepFigures["pool"], poolShareKey(i)) {
			t.Errorf("step pool does not name %q", poolShareKey(i))
		}
	}
}

// TestObserveSetups keeps the observe rows, their edges and their step in
// step.
func TestObserveSetups(t *testing.T) {
	setups := (&env{dir: t.TempDir()}).observeSetups()
	if len(setups) != len(observeKeys) {
		t.Errorf("observeSetups has %d edges, observeKeys %d rows", len(setups), len(observeKeys))
	}
	for _, k := range observeKeys {
		if setups[k] == nil {
			t.Errorf("observe row %s has no edge setup", k)
		}
	}
	if !slices.Equal(stepFigures["observe"], observeKeys) {
		t.Errorf("stepFigures[observe] = %v, want observeKeys %v", stepFigures["observe"], observeKeys)
	}
}
