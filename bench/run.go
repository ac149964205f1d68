package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
	plugEdge, err := e.startEdge(ctx, "edge-plugins", gressBin, []string{"SSHGRESS_PLUGINS_BASICAUTH_ENABLED=true", "SSHGRESS_PLUGINS_TCP_ENABLED=true", "SSHGRESS_PLUGINS_IPFILTER_ENABLED=true", "SSHGRESS_PLUGINS_HEADERS_ENABLED=true"}, false)
	if err != nil {
		return nil, fmt.Errorf("bench: the edge with the basicauth, headers, ipfilter and tcp plugins enabled: %w", err)
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
	for _, key := range []string{"auth_off", "auth_on", "cidr_on", "headers_on"} {
		cmd := []string{"http"}
		var hdr []string
		switch key {
		case "auth_on":
			cmd = append(cmd, "--basic-auth", authUser+":"+authPass)
			hdr = []string{"Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(authUser+":"+authPass))}
		case "cidr_on":
			// Static rules the edge checks per request: wrk's loopback
			// address is allowed, and its User-Agent matches no deny.
			cmd = append(cmd, "--cidr-allow", "127.0.0.0/8", "--cidr-deny", "192.0.2.0/24", "--ua-filter-deny", "'^curl/'")
		case "headers_on":
			// Static header edits the edge applies to every request and
			// response: two adds and a remove each way, and the Host.
			cmd = append(cmd, "--request-header-add", "'X-Env: bench'", "--request-header-add", "'X-Team: edge'",
				"--request-header-remove", "Referer", "--response-header-add", "'X-Frame-Options: DENY'",
				"--response-header-add", "'Cache-Control: no-transform'", "--response-header-remove", "Server",
				"--host-header", "localhost")
		}
		g, err := e.startGressTunnel(ctx, "ssh-"+key, plugEdge, "", cmd...)
		if err != nil {
			authTargets[key] = &httpTarget{name: tGress, err: err}
			continue
		}
		authTargets[key] = &httpTarget{name: tGress, base: fmt.Sprintf("http://127.0.0.1:%d", plugEdge.httpPort), host: g.host, headers: hdr, edge: plugEdge.p.pid(), client: g.c.p.pid()}
	}
	compress := e.openCompress(ctx, mainEdge)
	// A tcp tunnel that does not open fails the tcp figure's sshgress
	// column in every repetition (the run then exits non-zero).
	tcpTunnel, tcpErr := e.startGressTunnel(ctx, "ssh-gress-tcp", plugEdge, "", "tcp")
	if tcpErr != nil {
		tcpErr = fmt.Errorf("bench: the tcp tunnel did not open: %w", tcpErr)
		e.logf("tcp: %v", tcpErr)
	}
	// The pool rows: poolSize members of one name on the main edge, beside
	// its plain tunnel; started only when the step runs.
	var pool *poolTunnel
	if o.steps["pool"] {
		p, err := e.startPool(ctx, mainEdge)
		defer p.close()
		if err != nil {
			p.target = &httpTarget{name: tGress, err: err}
		}
		pool = p
	}
	// The observe rows: an edge each with metrics, access log and
	// inspector switched as observeSetups says.
	obsKeys := observeKeys
	var obsTargets map[string]*httpTarget
	if o.steps["observe"] {
		obsTargets = e.startObserve(ctx, gressBin)
	}
	// Every HTTP tunnel must answer before measuring.
	var all []*httpTarget
	all = append(all, direct)
	for _, c := range []string{"", cipherChaCha, cipherAES} {
		all = append(all, sshdH[c], gressT[c])
	}
	all = append(all, authTargets["auth_off"], authTargets["auth_on"], authTargets["cidr_on"], authTargets["headers_on"])
	if pool != nil {
		all = append(all, pool.target)
	}
	for _, key := range when(o.steps["observe"], obsKeys) {
		all = append(all, obsTargets[key])
	}
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

		e.logf("  basic auth off/on, cidr rules on, header edits on")
		for _, key := range when(o.steps["auth"], rotate([]string{"auth_off", "auth_on", "cidr_on", "headers_on"}, i)) {
			r, err := wrkStep(authTargets[key], o.conns, o.dur)
			if err != nil {
				res.fail(key, tGress, err)
				continue
			}
			res.add(key, tGress, r.rps)
		}

		if o.steps["compress"] {
			e.logf("  JSON page, --compression off/on")
			e.compressStep(ctx, res, compress, o, i)
		}

		e.logf("  one tunnel, a pool of %d", poolSize)
		for _, key := range when(o.steps["pool"], rotate([]string{"pool_off", "pool_on"}, i)) {
			if key == "pool_off" {
				r, err := wrkStep(gressT[""], o.conns, o.dur)
				if err != nil {
					res.fail(key, tGress, err)
					continue
				}
				res.add(key, tGress, r.rps)
				continue
			}
			before := pool.hits()
			r, err := wrkStep(pool.target, o.conns, o.dur)
			if err != nil {
				res.fail(key, tGress, err)
				continue
			}
			res.add(key, tGress, r.rps)
			sh, err := shares(before, pool.hits())
			if err != nil {
				res.fail(poolShareKey(1), tGress, err)
				continue
			}
			for m, v := range sh {
				res.add(poolShareKey(m+1), tGress, v)
			}
		}

		e.logf("  metrics, access log and inspector off/on")
		for _, key := range when(o.steps["observe"], rotate(obsKeys, i)) {
			r, err := wrkStep(obsTargets[key], o.conns, o.dur)
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
	// The auth, cidr and header rows' ratios are on/off, not against sshd.
	var off, on, cidr, hdrs *Figure
	for _, f := range r.Figures {
		switch f.Key {
		case "auth_off":
			off = f
		case "auth_on":
			on = f
		case "cidr_on":
			cidr = f
		case "headers_on":
			hdrs = f
		}
	}
	for _, f := range []struct {
		fig *Figure
		min float64
	}{{on, 0.9}, {cidr, 0.95}, {hdrs, 0.95}} {
		if off != nil && f.fig != nil && off.Values[tGress] != nil && f.fig.Values[tGress] != nil {
			v := f.fig.Values[tGress].Median / off.Values[tGress].Median
			f.fig.Ratio, f.fig.RatioOf = &v, "on/off"
			ok := v >= f.min
			f.fig.Met = &ok
		}
	}
	compressRatio(r)
	return r, err
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
