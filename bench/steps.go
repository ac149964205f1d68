package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// downloadStep records one download through t.
func (e *env) downloadStep(ctx context.Context, res *results, key string, t *httpTarget, n int64) {
	if t.err != nil {
		res.fail(key, t.name, t.err)
		return
	}
	meters := map[string]*cpuMeter{}
	for role, pids := range t.roles() {
		meters[role] = newCPUMeter(pids...)
	}
	v, err := download(ctx, t.base+"/bytes?n="+strconv.FormatInt(n, 10), t.host, t.headers, n)
	if err != nil {
		res.fail(key, t.name, err)
		return
	}
	res.add(key, t.name, v)
	// CPU per 100 MiB moved, for the rows that name it.
	per := float64(100<<20) / float64(n) * 1000
	for role, m := range meters {
		if k := key + "_cpu_" + role; res.wants(k) {
			res.add(k, t.name, m.seconds()*per)
		}
	}
}

// firstOK starts a fresh ssh -R (with a session or -N) to side and returns
// the milliseconds from starting ssh to the first 200 through it.
func (e *env) firstOK(ctx context.Context, side string, session bool, ep *edgeProc) (float64, error) {
	start := time.Now()
	var c *sshClient
	var url, host string
	switch side {
	case tSSHD:
		t, err := e.startSSHDTunnel(ctx, "ssh-first", "", session)
		if err != nil {
			return 0, err
		}
		c, url = t.c, fmt.Sprintf("http://127.0.0.1:%d/1k", t.httpPort)
	default:
		url = fmt.Sprintf("http://127.0.0.1:%d/1k", ep.httpPort)
		if session {
			t, err := e.startGressTunnel(ctx, "ssh-first", ep, "", "http")
			if err != nil {
				return 0, err
			}
			c, host = t.c, t.host
		} else {
			var b [5]byte
			rand.Read(b[:])
			name := "b" + hex.EncodeToString(b[:])
			var err error
			c, err = e.startSSH("ssh-first", ep.sshPort, "v2", []string{"-N", "-R", name + ":80:" + e.back.httpAddr})
			if err != nil {
				return 0, err
			}
			host = fmt.Sprintf("%s.localhost:%d", name, ep.httpPort)
		}
	}
	defer c.close()
	at, err := waitFor200(ctx, url, host, nil, c, 15*time.Second)
	if err != nil {
		return 0, err
	}
	return float64(at.Sub(start)) / float64(time.Millisecond), nil
}

// idleStep starts a fresh edge, opens counts idle tunnels step by step and
// records the edge's RSS at each step and per tunnel at the last.
// settle is the pause before each RSS reading.
func (e *env) idleStep(ctx context.Context, res *results, bin string, counts []int, rep int, settle time.Duration) error {
	sorted := append([]int(nil), counts...)
	sort.Ints(sorted)
	max := sorted[len(sorted)-1]
	it, err := newIdleTunnels("", max) // the address is known once the edge runs
	if err != nil {
		return err
	}
	defer it.close()
	// Accounts with keys (as in production) spread the tunnels below the
	// per-account limit.
	cfgPath := filepath.Join(e.dir, "idle-"+strconv.Itoa(rep)+".yaml")
	if err := os.WriteFile(cfgPath, []byte(it.accountsYAML()), 0o600); err != nil {
		return fmt.Errorf("bench: idle edge config: %w", err)
	}
	ep, err := e.startEdge(ctx, "edge-idle-"+strconv.Itoa(rep), bin, nil, false, "--config", cfgPath)
	if err != nil {
		return err
	}
	defer ep.p.kill()
	time.Sleep(settle)
	base, err := rssKiB(ep.p.pid())
	if err != nil {
		return err
	}
	it.addr = fmt.Sprintf("127.0.0.1:%d", ep.sshPort)
	var last float64
	for _, n := range sorted {
		if err := it.growTo(ctx, n); err != nil {
			return fmt.Errorf("bench: opening %d idle tunnels (%d open): %w; edge log: %s", n, it.count(), err, ep.log.lastLines(5))
		}
		time.Sleep(settle)
		rss, err := rssKiB(ep.p.pid())
		if err != nil {
			return err
		}
		res.add("rss_"+strconv.Itoa(n), tGress, rss/1024)
		last = rss
	}
	res.add("rss_per_tunnel", tGress, (last-base)/float64(max))
	// What the idle tunnels cost in CPU while nothing happens.
	m := newCPUMeter(ep.p.pid())
	t0 := time.Now()
	time.Sleep(4 * settle)
	res.add("idle_cpu", tGress, 100*m.seconds()/time.Since(t0).Seconds())
	return nil
}

// profile fetches a CPU profile of the edge while wrk drives t, writes it
// to o.cpuprofile and its top functions to o.cpuprofile+".txt".
func (e *env) profile(ctx context.Context, o options, ep *edgeProc, t *httpTarget, bin string) error {
	if t.err != nil {
		return t.err
	}
	secs := int(o.dur/time.Second) - 1
	if secs < 1 {
		secs = 1
	}
	type got struct {
		b   []byte
		err error
	}
	ch := make(chan got, 1)
	go func() {
		time.Sleep(500 * time.Millisecond) // let wrk ramp up
		cl := &http.Client{Timeout: time.Duration(secs+30) * time.Second}
		resp, err := cl.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", ep.pprofAddr, secs))
		if err != nil {
			ch <- got{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("status %s", resp.Status)
		}
		ch <- got{b, err}
	}()
	r, werr := e.runWrk(ctx, t.base+"/1k", t.host, t.headers, o.conns, o.dur, t.roles())
	g := <-ch
	if g.err != nil {
		return fmt.Errorf("bench: fetch profile: %w", g.err)
	}
	if err := os.WriteFile(o.cpuprofile, g.b, 0o644); err != nil {
		return fmt.Errorf("bench: write profile: %w", err)
	}
	var sb strings.Builder
	if werr == nil {
		fmt.Fprintf(&sb, "wrk during the profile: %.0f req/s, edge %.1f µs/request (profiling overhead included)\n\n", r.rps, r.cpu["edge"]/r.requests*1e6)
	}
	for _, args := range [][]string{{"-top", "-nodecount=35"}, {"-top", "-cum", "-nodecount=35"}} {
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		out, err := exec.CommandContext(cctx, "go", append(append([]string{"tool", "pprof"}, args...), bin, o.cpuprofile)...).CombinedOutput()
		cancel()
		if err != nil {
			return fmt.Errorf("bench: go tool pprof: %w: %s", err, out)
		}
		fmt.Fprintf(&sb, "$ go tool pprof %s\n%s\n", strings.Join(args, " "), out)
	}
	if err := os.WriteFile(o.cpuprofile+".txt", []byte(sb.String()), 0o644); err != nil {
		return fmt.Errorf("bench: write profile summary: %w", err)
	}
	e.logf("profile written to %s, top functions in %s.txt", o.cpuprofile, o.cpuprofile)
	return nil
}

// machine describes this machine for the report.
func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if out, err := exec.Command("ssh", "-V").CombinedOutput(); err == nil {
		m.OpenSSH = strings.TrimSpace(string(out))
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}
