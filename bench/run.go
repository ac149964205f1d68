package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
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

// Ciphers forced on the client for the cipher-effect rows.
const (
	cipherChaCha = "chacha20-poly1305@openssh.com"
	cipherAES    = "aes128-gcm@openssh.com"
)

// Credentials of the basic-auth tunnel.
const (
	authUser = "bench"
	authPass = "bench-password"
)

// figureDefs lists the rows of the table, in order.
func figureDefs(o options) []figureDef {
	all := []string{tDirect, tSSHD, tGress}
	both := []string{tSSHD, tGress}
	gress := []string{tGress}
	ratioAtLeast := func(x float64) func(*Figure) bool { return func(f *Figure) bool { return *f.Ratio >= x } }
	gressAtMost := func(x float64) func(*Figure) bool {
		return func(f *Figure) bool { return f.Values[tGress].Median <= x }
	}
	c := strconv.Itoa(o.conns)
	dl := fmt.Sprintf("%d MiB", o.dlBytes>>20)
	defs := []figureDef{
		{key: "http_rps", name: "HTTP 1 KiB × " + c + " conns", unit: "req/s", higher: true, want: all, target: "≥ 1.5× sshd", met: ratioAtLeast(1.5)},
		{key: "http_p50", name: "… p50", unit: "ms", want: all},
		{key: "http_p99", name: "… p99", unit: "ms", want: all},
		{key: "one_p50", name: "HTTP 1 KiB × 1 conn p50", unit: "ms", want: all},
		{key: "one_p99", name: "HTTP 1 KiB × 1 conn p99", unit: "ms", want: all, target: "≤ 5 ms", met: gressAtMost(5)},
		{key: "cpu_edge", name: "CPU per request: edge (sshgress) / sshd", unit: "µs", want: both, target: "≤ 30 µs", met: gressAtMost(30)},
		{key: "cpu_client", name: "CPU per request: ssh client", unit: "µs", want: both},
		{key: "calls_edge", name: "read+write syscalls per request: edge / sshd", unit: "calls", want: both},
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
		figureDef{key: "auth_on", name: "HTTP req/s × " + c + ", --basic-auth on", unit: "req/s", higher: true, want: gress, target: "≥ 0.9× off", met: ratioAtLeast(0.9)},
	)
	return defs
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

// run performs the whole benchmark. progress receives what it is doing.
// The report is returned even when run fails part-way, with what it got.
func run(ctx context.Context, o options, progress io.Writer) (*Report, error) {
	started := time.Now()
	res := newResults(figureDefs(o))
	rep := &Report{Command: o.command(), Quick: o.quick, Reps: o.reps, Machine: machine()}
	finish := func(err error) (*Report, error) {
		rep.Figures = res.summarise()
		fmt.Fprintf(progress, "bench: done in %s\n", time.Since(started).Round(time.Second))
		return rep, err
	}
	for st, keys := range stepFigures {
		if o.steps[st] {
			continue
		}
		for _, k := range keys {
			res.skip(k, "not selected")
		}
		if st == "idle" {
			for _, n := range o.idle {
				res.skip("rss_"+strconv.Itoa(n), "not selected")
			}
		}
	}
	if err := checkTools(); err != nil {
		return nil, err
	}
	repo := o.repo
	if repo == "" {
		var err error
		if repo, err = findRepo(); err != nil {
			return nil, err
		}
	}
	dir, err := os.MkdirTemp("", "sshgress-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench: temp dir: %w", err)
	}
	if o.keep {
		fmt.Fprintf(progress, "bench: keeping %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	ps := &procSet{}
	defer ps.killAll()
	e := &env{dir: dir, ps: ps, progress: progress}

	e.logf("building sshgress")
	gressBin := filepath.Join(dir, "sshgress")
	if err := runTool(ctx, repo, "go", "build", "-o", gressBin, "./cmd/sshgress"); err != nil {
		return nil, err
	}
	mainBin := gressBin
	if o.cpuprofile != "" {
		// The same binary with the pprof endpoint compiled in.
		mainBin = filepath.Join(dir, "sshgress-pprof")
		if err := runTool(ctx, repo, "go", "build", "-tags", "pprof", "-o", mainBin, "./cmd/sshgress"); err != nil {
			return nil, err
		}
	}
	if e.back, err = startBackend(o.tcpBytes); err != nil {
		return nil, err
	}
	defer e.back.close()
	e.key = filepath.Join(dir, "client_ed25519")
	if err := genKey(ctx, e.key, "bench client"); err != nil {
		return nil, err
	}
	e.logf("starting sshd and edges")
	if err := e.startSSHD(ctx); err != nil {
		return nil, err
	}
	mainEdge, err := e.startEdge(ctx, "edge", mainBin, nil, o.cpuprofile != "")
	if err != nil {
		return nil, err
	}
	// The default edge no longer offers chacha20-poly1305 (clients would
	// pick it over AES-GCM); this one does, for the forced-chacha20 rows.
	chachaEdge, err := e.startEdge(ctx, "edge-chacha", gressBin, []string{"SSHGRESS_SSH_CIPHERS=" + cipherChaCha + ",aes128-gcm@openssh.com,aes128-ctr"}, false)
	if err != nil {
		return nil, err
	}
	// The tcp plugin is bundled: an edge that does not start with it is a
	// failure of the run, never a step to skip.
	plugEdge, err := e.startEdge(ctx, "edge-plugins", gressBin, []string{"SSHGRESS_PLUGINS_BASICAUTH_ENABLED=true", "SSHGRESS_PLUGINS_TCP_ENABLED=true"}, false)
	if err != nil {
		return nil, fmt.Errorf("bench: the edge with the basicauth and tcp plugins enabled: %w", err)
	}

	// The long-lived tunnels, one per (side, cipher).
	e.logf("opening tunnels")
	sshdT := map[string]*sshdTunnel{}
	gressT := map[string]*httpTarget{}
	sshdH := map[string]*httpTarget{}
	for _, c := range []string{"", cipherChaCha, cipherAES} {
		t, err := e.startSSHDTunnel(ctx, "ssh-sshd"+c, c, true)
		if err != nil {
			return nil, err
		}
		sshdT[c] = t
		sshdH[c] = &httpTarget{name: tSSHD, base: fmt.Sprintf("http://127.0.0.1:%d", t.httpPort), edge: e.sshd.pid(), client: t.c.p.pid()}
		edge := mainEdge
		if c == cipherChaCha {
			edge = chachaEdge
		}
		g, err := e.startGressTunnel(ctx, "ssh-gress"+c, edge, c, "http")
		if err != nil {
			gressT[c] = &httpTarget{name: tGress, err: err}
			continue
		}
		gressT[c] = &httpTarget{name: tGress, base: fmt.Sprintf("http://127.0.0.1:%d", edge.httpPort), host: g.host, edge: edge.p.pid(), client: g.c.p.pid()}
	}
	direct := &httpTarget{name: tDirect, base: "http://" + e.back.httpAddr}
	authTargets := map[string]*httpTarget{}
	for _, on := range []bool{false, true} {
		cmd := []string{"http"}
		key := "auth_off"
		var hdr []string
		if on {
			cmd = append(cmd, "--basic-auth", authUser+":"+authPass)
			key = "auth_on"
			hdr = []string{"Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(authUser+":"+authPass))}
		}
		g, err := e.startGressTunnel(ctx, "ssh-"+key, plugEdge, "", cmd...)
		if err != nil {
			authTargets[key] = &httpTarget{name: tGress, err: err}
			continue
		}
		authTargets[key] = &httpTarget{name: tGress, base: fmt.Sprintf("http://127.0.0.1:%d", plugEdge.httpPort), host: g.host, headers: hdr, edge: plugEdge.p.pid(), client: g.c.p.pid()}
	}
	// A tcp tunnel that does not open fails the tcp figure's sshgress
	// column in every repetition (the run then exits non-zero).
	tcpTunnel, tcpErr := e.startGressTunnel(ctx, "ssh-gress-tcp", plugEdge, "", "tcp")
	if tcpErr != nil {
		tcpErr = fmt.Errorf("bench: the tcp tunnel did not open: %w", tcpErr)
		e.logf("tcp: %v", tcpErr)
	}
	// Every HTTP tunnel must answer before measuring.
	var all []*httpTarget
	all = append(all, direct)
	for _, c := range []string{"", cipherChaCha, cipherAES} {
		all = append(all, sshdH[c], gressT[c])
	}
	all = append(all, authTargets["auth_off"], authTargets["auth_on"])
	for _, t := range all {
		if t.err != nil {
			continue
		}
		if _, err := waitFor200(ctx, t.base+"/1k", t.host, t.headers, nil, 15*time.Second); err != nil {
			t.err = err
		}
	}
	if direct.err != nil || sshdH[""].err != nil {
		return finish(fmt.Errorf("bench: baseline tunnels do not work: %v %v", direct.err, sshdH[""].err))
	}

	wrkStep := func(t *httpTarget, conns int, d time.Duration) (wrkResult, error) {
		if t.err != nil {
			return wrkResult{}, t.err
		}
		return e.runWrk(ctx, t.base+"/1k", t.host, t.headers, conns, d, t.roles())
	}
	perReq := func(r wrkResult, role string) float64 {
		return r.cpu[role] / r.requests * 1e6
	}

	for i := 0; i < o.reps && ctx.Err() == nil; i++ {
		e.logf("repetition %d of %d", i+1, o.reps)
		main3 := rotate([]*httpTarget{direct, sshdH[""], gressT[""]}, i)

		e.logf("  HTTP 1 KiB × %d conns, %s each", o.conns, o.dur)
		for _, t := range when(o.steps["http"], main3) {
			r, err := wrkStep(t, o.conns, o.dur)
			if err != nil {
				res.fail("http_rps", t.name, err)
				continue
			}
			res.add("http_rps", t.name, r.rps)
			res.add("http_p50", t.name, r.p50)
			res.add("http_p99", t.name, r.p99)
			res.add("cpu_backend", t.name, perReq(r, "harness"))
			res.add("cpu_wrk", t.name, perReq(r, "wrk"))
			res.add("idle_pct", t.name, r.idlePct)
			if t.name != tDirect {
				res.add("cpu_edge", t.name, perReq(r, "edge"))
				res.add("cpu_client", t.name, perReq(r, "client"))
				res.add("calls_edge", t.name, r.calls["edge"]/r.requests)
				res.add("calls_client", t.name, r.calls["client"]/r.requests)
			}
		}

		e.logf("  HTTP 1 KiB × 1 conn, %s each", o.dur1)
		for _, t := range when(o.steps["one"], main3) {
			r, err := wrkStep(t, 1, o.dur1)
			if err != nil {
				res.fail("one_p99", t.name, err)
				continue
			}
			res.add("one_p50", t.name, r.p50)
			res.add("one_p99", t.name, r.p99)
		}

		e.logf("  downloads of %d MiB", o.dlBytes>>20)
		for _, t := range when(o.steps["download"], main3) {
			e.downloadStep(ctx, res, "dl_default", t, o.dlBytes)
		}
		for j, c := range when(o.steps["cipher"], rotate([]string{cipherChaCha, cipherAES}, i)) {
			suffix := map[string]string{cipherChaCha: "chacha", cipherAES: "aes"}[c]
			for _, t := range rotate([]*httpTarget{sshdH[c], gressT[c]}, i+j) {
				e.downloadStep(ctx, res, "dl_"+suffix, t, o.dlBytes)
				r, err := wrkStep(t, o.conns, o.dur)
				if err != nil {
					res.fail("http_rps_"+suffix, t.name, err)
					continue
				}
				res.add("http_rps_"+suffix, t.name, r.rps)
				if c == cipherAES {
					res.add("cpu_edge_aes", t.name, perReq(r, "edge"))
				}
			}
		}

		{
			e.logf("  raw TCP %d MiB", o.tcpBytes>>20)
			type tcpTarget struct {
				name, addr string
				err        error
			}
			gress := tcpTarget{name: tGress, err: tcpErr}
			if tcpErr == nil {
				gress.addr = tcpTunnel.addr
			}
			tcpAddrs := []tcpTarget{
				{name: tDirect, addr: e.back.tcpAddr},
				{name: tSSHD, addr: fmt.Sprintf("127.0.0.1:%d", sshdT[""].tcpPort)},
				gress,
			}
			for _, t := range when(o.steps["tcp"], rotate(tcpAddrs, i)) {
				if t.err != nil {
					res.fail("tcp", t.name, t.err)
					continue
				}
				v, err := tcpDownload(ctx, t.addr, o.tcpBytes)
				if err != nil {
					res.fail("tcp", t.name, err)
					continue
				}
				res.add("tcp", t.name, v)
			}
		}

		e.logf("  basic auth off/on")
		for _, key := range when(o.steps["auth"], rotate([]string{"auth_off", "auth_on"}, i)) {
			r, err := wrkStep(authTargets[key], o.conns, o.dur)
			if err != nil {
				res.fail(key, tGress, err)
				continue
			}
			res.add(key, tGress, r.rps)
		}

		e.logf("  ssh start → first 200")
		for _, side := range when(o.steps["first200"], rotate([]string{tSSHD, tGress}, i)) {
			for _, session := range []bool{true, false} {
				key := "first200_n"
				if session {
					key = "first200_session"
				}
				ms, err := e.firstOK(ctx, side, session, mainEdge)
				if err != nil {
					res.fail(key, side, err)
					continue
				}
				res.add(key, side, ms)
			}
		}

		if o.steps["idle"] {
			e.logf("  edge RSS with %v idle tunnels", o.idle)
			settle := 500 * time.Millisecond
			if o.quick {
				settle = 200 * time.Millisecond
			}
			if err := e.idleStep(ctx, res, gressBin, o.idle, i, settle); err != nil {
				res.fail("rss_per_tunnel", tGress, err)
			}
		}
	}

	if o.cpuprofile != "" && ctx.Err() == nil {
		e.logf("profiling the edge during a %s %d-connection run", o.dur, o.conns)
		if err := e.profile(ctx, o, mainEdge, gressT[""], mainBin); err != nil {
			e.logf("profile: %v", err)
		}
	}
	r, err := finish(ctx.Err())
	// The auth row's ratio is on/off, not against sshd.
	var off, on *Figure
	for _, f := range r.Figures {
		switch f.Key {
		case "auth_off":
			off = f
		case "auth_on":
			on = f
		}
	}
	if off != nil && on != nil && off.Values[tGress] != nil && on.Values[tGress] != nil {
		v := on.Values[tGress].Median / off.Values[tGress].Median
		on.Ratio, on.RatioOf = &v, "on/off"
		ok := v >= 0.9
		on.Met = &ok
	}
	return r, err
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

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
