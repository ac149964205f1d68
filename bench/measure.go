package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// wrkResult is what one wrk run reported, plus the CPU the named process
// trees used during it.
type wrkResult struct {
	rps      float64
	p50, p99 float64 // milliseconds
	requests float64
	// cpu maps a role ("edge", "client", ...) to CPU seconds in the run.
	cpu map[string]float64
	// calls maps a role to the read and write system calls it made.
	calls map[string]float64
	// idlePct is the machine's idle share during the run, in percent.
	idlePct float64
}

// wrkStatusScript makes wrk count every response outside 2xx: wrk itself
// counts only statuses above 399 ("Non-2xx or 3xx responses" says
// otherwise), so a fast redirect would pass as throughput. Each thread
// counts in its own Lua state; done sums them and prints one line that
// parseWrk requires.
const wrkStatusScript = `local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  not2xx = 0
end
function response(status, headers, body)
  if status < 200 or status > 299 then
    not2xx = not2xx + 1
  end
end
function done(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do
    n = n + t:get("not2xx")
  end
  io.write(string.format("Responses outside 2xx: %d\n", n))
end
`

// wrkStatusLine starts the line wrkStatusScript prints.
const wrkStatusLine = "Responses outside 2xx:"

// runWrk drives url with wrk for d at conns connections, sending the Host
// header host (if set) and the extra headers, and measures the CPU of the
// process trees in roles meanwhile. Any answer outside 2xx (a 3xx too) or
// a socket error makes it fail: a fast 302, 401 or 502 must never pass as
// throughput.
func (e *env) runWrk(ctx context.Context, url, host string, headers []string, conns int, d time.Duration, roles map[string][]int) (wrkResult, error) {
	threads := 2
	if conns < threads {
		threads = conns
	}
	secs := int(d.Round(time.Second) / time.Second)
	if secs < 1 {
		secs = 1
	}
	script := filepath.Join(e.dir, "wrk-status.lua")
	if err := os.WriteFile(script, []byte(wrkStatusScript), 0o600); err != nil {
		return wrkResult{}, fmt.Errorf("bench: wrk script: %w", err)
	}
	args := []string{"-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns), "-d", strconv.Itoa(secs) + "s", "--timeout", "5s", "--latency", "-s", script}
	if host != "" {
		args = append(args, "-H", "Host: "+host)
	}
	for _, h := range headers {
		args = append(args, "-H", h)
	}
	args = append(args, url)
	cctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(cctx, "wrk", args...)
	var out strings.Builder
	cmd.Stdout = &out
	cmd.Stderr = &out
	meters := map[string]*cpuMeter{}
	for role, pids := range roles {
		meters[role] = newCPUMeter(pids...)
	}
	selfStart, _ := cpuTicks(os.Getpid())
	busy0, total0, _ := machineCPU()
	p, err := e.ps.start("wrk", cmd)
	if err != nil {
		return wrkResult{}, err
	}
	select {
	case <-p.done:
	case <-cctx.Done():
		p.kill()
		return wrkResult{}, fmt.Errorf("bench: wrk did not finish: %w", cctx.Err())
	}
	res := wrkResult{cpu: map[string]float64{}, calls: map[string]float64{}}
	for role, m := range meters {
		res.cpu[role] = m.seconds()
		res.calls[role] = m.ioCalls()
	}
	if selfEnd, err := cpuTicks(os.Getpid()); err == nil {
		res.cpu["harness"] = float64(selfEnd-selfStart) / clockTick
	}
	if st := p.cmd.ProcessState; st != nil {
		res.cpu["wrk"] = (st.UserTime() + st.SystemTime()).Seconds()
	}
	busy1, total1, _ := machineCPU()
	if total1 > total0 {
		res.idlePct = 100 * (1 - float64(busy1-busy0)/float64(total1-total0))
	}
	if p.err != nil {
		return res, fmt.Errorf("bench: wrk: %w: %s", p.err, out.String())
	}
	if err := parseWrk(out.String(), &res); err != nil {
		return res, err
	}
	return res, nil
}

// parseWrk fills rps, p50, p99 and requests from wrk --latency output run
// with wrkStatusScript.
func parseWrk(out string, res *wrkResult) error {
	var haveRPS, have50, have99, haveReq, haveStatus bool
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "Requests/sec:":
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return fmt.Errorf("bench: wrk: requests/sec %q: %w", f[1], err)
			}
			res.rps, haveRPS = v, true
		case len(f) == 2 && (f[0] == "50%" || f[0] == "99%"):
			v, err := parseWrkDuration(f[1])
			if err != nil {
				return err
			}
			if f[0] == "50%" {
				res.p50, have50 = v, true
			} else {
				res.p99, have99 = v, true
			}
		case len(f) >= 3 && f[1] == "requests" && f[2] == "in":
			v, err := strconv.ParseFloat(f[0], 64)
			if err != nil {
				return fmt.Errorf("bench: wrk: request count %q: %w", f[0], err)
			}
			res.requests, haveReq = v, true
		case strings.HasPrefix(strings.TrimSpace(sc.Text()), wrkStatusLine):
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(sc.Text()), wrkStatusLine)))
			if err != nil {
				return fmt.Errorf("bench: wrk: %q: %w", sc.Text(), err)
			}
			if n != 0 {
				return fmt.Errorf("bench: wrk: %d responses outside 2xx (check the Host and auth headers, and for redirects): %s", n, firstLines(out, 3))
			}
			haveStatus = true
		case len(f) >= 4 && f[0] == "Non-2xx":
			return fmt.Errorf("bench: wrk: %s (check the Host and auth headers): %s", sc.Text(), firstLines(out, 3))
		case len(f) >= 2 && f[0] == "Socket" && f[1] == "errors:":
			return fmt.Errorf("bench: wrk: %s", strings.TrimSpace(sc.Text()))
		}
	}
	if !haveRPS || !have50 || !have99 || !haveReq {
		return fmt.Errorf("bench: wrk: unexpected output: %s", out)
	}
	if !haveStatus {
		return fmt.Errorf("bench: wrk: no %q line (did the status script run?): %s", wrkStatusLine, out)
	}
	if res.requests <= 0 {
		return errors.New("bench: wrk: no requests completed")
	}
	return nil
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, " | ")
}

// parseWrkDuration turns wrk's "812.00us", "7.20ms", "1.02s", "1.50m"
// into milliseconds.
func parseWrkDuration(s string) (float64, error) {
	units := []struct {
		suffix string
		ms     float64
	}{{"us", 1e-3}, {"ms", 1}, {"s", 1e3}, {"m", 60e3}, {"h", 3600e3}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil {
				continue // "ms" also ends in "s"; try the next unit
			}
			return v * u.ms, nil
		}
	}
	return 0, fmt.Errorf("bench: wrk: latency %q has no known unit", s)
}

// download fetches n bytes from url (sending Host: host and headers) on a
// new connection and returns MB/s (10^6 bytes per second).
func download(ctx context.Context, url, host string, headers []string, n int64) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	tr := &http.Transport{DisableKeepAlives: true, DisableCompression: true, Proxy: nil}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, fmt.Errorf("bench: download: %w", err)
	}
	if host != "" {
		req.Host = host
	}
	addHeaders(req, headers)
	start := time.Now()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return 0, fmt.Errorf("bench: download: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("bench: download: status %s", resp.Status)
	}
	buf := make([]byte, 256<<10)
	got, err := io.CopyBuffer(io.Discard, resp.Body, buf)
	el := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("bench: download: after %d bytes: %w", got, err)
	}
	if got != n {
		return 0, fmt.Errorf("bench: download: got %d bytes, want %d", got, n)
	}
	return float64(n) / 1e6 / el.Seconds(), nil
}

// addHeaders sets "Name: value" headers on req.
func addHeaders(req *http.Request, headers []string) {
	for _, h := range headers {
		if k, v, ok := strings.Cut(h, ":"); ok {
			req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
		}
	}
}

// tcpDownload reads from addr until EOF and returns MB/s; it fails unless
// exactly n bytes arrive.
func tcpDownload(ctx context.Context, addr string, n int64) (float64, error) {
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	start := time.Now()
	c, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return 0, fmt.Errorf("bench: tcp: %w", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Minute))
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	buf := make([]byte, 256<<10)
	got, err := io.CopyBuffer(io.Discard, c, buf)
	el := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("bench: tcp: after %d bytes: %w", got, err)
	}
	if got != n {
		return 0, fmt.Errorf("bench: tcp: got %d bytes, want %d", got, n)
	}
	return float64(n) / 1e6 / el.Seconds(), nil
}

// errNotYet marks an answer other than 200 while a tunnel comes up.
var errNotYet = errors.New("not yet")

// get200 sends one GET and reports whether it answered 200.
func get200(ctx context.Context, tr *http.Transport, url, host string, headers []string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if host != "" {
		req.Host = host
	}
	addHeaders(req, headers)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: status %d", errNotYet, resp.StatusCode)
	}
	return nil
}

// waitFor200 polls url until it answers 200, the client c exits, or d
// passes. It returns when the 200 arrived.
func waitFor200(ctx context.Context, url, host string, headers []string, c *sshClient, d time.Duration) (time.Time, error) {
	tr := &http.Transport{DisableKeepAlives: true, Proxy: nil}
	defer tr.CloseIdleConnections()
	deadline := time.Now().Add(d)
	var last error
	for i := 0; ; i++ {
		err := get200(ctx, tr, url, host, headers)
		if err == nil {
			return time.Now(), nil
		}
		last = err
		if c != nil && c.p.exited() {
			return time.Time{}, fmt.Errorf("bench: ssh exited before %s answered 200: %s", url, c.describe())
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return time.Time{}, fmt.Errorf("bench: %s (Host %s) did not answer 200 within %s: %v", url, host, d, last)
		}
		time.Sleep(time.Millisecond)
	}
}
