package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// clockTick is USER_HZ, the unit of utime and stime in /proc/PID/stat. It is
// 100 on every Linux architecture Go supports.
const clockTick = 100

// procSet owns every process the harness starts. Each runs in its own
// process group, so killing the group also ends its children (sshd's
// per-connection processes, the edge's plugins). Kill is idempotent.
type procSet struct {
	mu     sync.Mutex
	procs  []*proc
	closed bool
}

// proc is one started process.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when Wait returned
	err  error         // Wait's result, valid after done
	once sync.Once
}

// start runs cmd in a new process group and registers it for cleanup.
// stderr of the process goes to logPath when it is not empty.
func (ps *procSet) start(name string, cmd *exec.Cmd) (*proc, error) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.closed {
		return nil, errors.New("bench: shutting down")
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	ps.procs = append(ps.procs, p)
	return p, nil
}

// pid is the process id.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill ends the process group with SIGTERM, then SIGKILL after a grace,
// and waits (bounded) for the process to be reaped.
func (p *proc) kill() {
	p.once.Do(func() {
		pgid := p.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(2 * time.Second):
		}
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		select {
		case <-p.done:
		case <-time.After(2 * time.Second):
		}
	})
}

// killAll ends every registered process group.
func (ps *procSet) killAll() {
	ps.mu.Lock()
	ps.closed = true
	list := ps.procs
	ps.procs = nil
	ps.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.kill()
		}()
	}
	wg.Wait()
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("bench: free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// cpuTicks returns utime+stime of pid in clock ticks.
func cpuTicks(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("bench: cpu of %d: %w", pid, err)
	}
	// The command name (field 2) may hold spaces; fields after ')' are fixed.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("bench: cpu of %d: malformed stat", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("bench: cpu of %d: short stat", pid)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bench: cpu of %d: malformed stat", pid)
	}
	return ut + st, nil
}

// ioCalls returns the read-family plus write-family system calls pid has
// made (syscr + syscw of /proc/PID/io, threads included).
func ioCalls(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/io")
	if err != nil {
		return 0, fmt.Errorf("bench: io of %d: %w", pid, err)
	}
	var n uint64
	seen := 0
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok || (k != "syscr" && k != "syscw") {
			continue
		}
		c, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bench: io of %d: malformed %s", pid, k)
		}
		n += c
		seen++
	}
	if seen != 2 {
		return 0, fmt.Errorf("bench: io of %d: no syscr/syscw", pid)
	}
	return n, nil
}

// parentOf returns the parent pid of pid, or -1.
func parentOf(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return -1
	}
	pp, err := strconv.Atoi(f[1])
	if err != nil {
		return -1
	}
	return pp
}

// processTree returns root and all its living descendants.
func processTree(root int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return []int{root}
	}
	children := map[int][]int{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		children[parentOf(pid)] = append(children[parentOf(pid)], pid)
	}
	out := []int{root}
	for i := 0; i < len(out) && i < 10000; i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// cpuMeter samples the CPU time of process trees, so a run's CPU can be
// taken as the difference of two samples.
type cpuMeter struct {
	pids    []int
	start   map[int]uint64
	ioStart map[int]uint64
}

// newCPUMeter takes the first sample of the trees rooted at roots.
func newCPUMeter(roots ...int) *cpuMeter {
	m := &cpuMeter{start: map[int]uint64{}, ioStart: map[int]uint64{}}
	for _, r := range roots {
		if r <= 0 {
			continue
		}
		for _, pid := range processTree(r) {
			if t, err := cpuTicks(pid); err == nil {
				m.pids = append(m.pids, pid)
				m.start[pid] = t
				if n, err := ioCalls(pid); err == nil {
					m.ioStart[pid] = n
				}
			}
		}
	}
	return m
}

// seconds returns the CPU seconds used since the first sample by the
// processes that existed then and still exist.
func (m *cpuMeter) seconds() float64 {
	var ticks uint64
	for _, pid := range m.pids {
		if t, err := cpuTicks(pid); err == nil && t >= m.start[pid] {
			ticks += t - m.start[pid]
		}
	}
	return float64(ticks) / clockTick
}

// ioCalls returns the read and write system calls made since the first
// sample by the processes that existed then and still exist.
func (m *cpuMeter) ioCalls() float64 {
	var calls uint64
	for pid, start := range m.ioStart {
		if n, err := ioCalls(pid); err == nil && n >= start {
			calls += n - start
		}
	}
	return float64(calls)
}

// machineCPU reads the aggregate busy and total ticks from /proc/stat.
func machineCPU() (busy, total uint64, err error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, 0, fmt.Errorf("bench: /proc/stat: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 5 || fs[0] != "cpu" {
			continue
		}
		var idle uint64
		for i, v := range fs[1:] {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				continue
			}
			if i >= 7 { // guest time is already counted in user
				break
			}
			total += n
			if i == 3 || i == 4 { // idle, iowait
				idle += n
			}
		}
		return total - idle, total, nil
	}
	return 0, 0, errors.New("bench: /proc/stat: no cpu line")
}

// rssKiB returns the resident set size of pid in KiB.
func rssKiB(pid int) (float64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("bench: rss of %d: %w", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			fs := strings.Fields(v)
			if len(fs) >= 1 {
				n, err := strconv.ParseFloat(fs[0], 64)
				if err == nil {
					return n, nil
				}
			}
		}
	}
	return 0, fmt.Errorf("bench: rss of %d: no VmRSS", pid)
}

// lineWatcher reads r line by line until EOF, remembering the first
// maxWatchedLines lines (callers wait for one that matches) and the last
// maxWatchedLines after those (for error messages).
type lineWatcher struct {
	mu      sync.Mutex
	lines   []string
	tail    []string // ring of the latest lines once lines is full
	tailPos int
	dropped int
	more    chan struct{} // closed and replaced on every new line
	eof     bool
}

const maxWatchedLines = 100

func newLineWatcher(r io.Reader) *lineWatcher {
	w := &lineWatcher{more: make(chan struct{})}
	go func() {
		br := bufio.NewReader(r)
		for {
			line, err := br.ReadString('\n')
			w.mu.Lock()
			if line != "" {
				w.remember(strings.TrimRight(line, "\r\n"))
			}
			if err != nil {
				w.eof = true
			}
			close(w.more)
			w.more = make(chan struct{})
			w.mu.Unlock()
			if err != nil {
				// Keep draining so the writer never blocks.
				_, _ = io.Copy(io.Discard, r)
				return
			}
		}
	}()
	return w
}

// remember stores a line in the head or the tail ring; w.mu is held.
func (w *lineWatcher) remember(l string) {
	switch {
	case len(w.lines) < maxWatchedLines:
		w.lines = append(w.lines, l)
	case len(w.tail) < maxWatchedLines:
		w.tail = append(w.tail, l)
	default:
		w.tail[w.tailPos] = l
		w.tailPos = (w.tailPos + 1) % maxWatchedLines
		w.dropped++
	}
}

// wait returns the first line for which match returns true, waiting until
// ctx is done or the stream ends.
func (w *lineWatcher) wait(ctx context.Context, match func(string) bool) (string, error) {
	seen := 0
	for {
		w.mu.Lock()
		for ; seen < len(w.lines); seen++ {
			if match(w.lines[seen]) {
				l := w.lines[seen]
				w.mu.Unlock()
				return l, nil
			}
		}
		eof, more := w.eof, w.more
		w.mu.Unlock()
		if eof {
			return "", errors.New("stream ended")
		}
		select {
		case <-more:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// text returns the first and the latest lines read so far.
func (w *lineWatcher) text() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := append([]string(nil), w.lines...)
	if w.dropped > 0 {
		out = append(out, fmt.Sprintf("[… %d lines …]", w.dropped))
	}
	out = append(out, w.tail[w.tailPos:]...)
	out = append(out, w.tail[:w.tailPos]...)
	return strings.Join(out, "\n")
}

// lastLines returns up to n of the latest lines.
func (w *lineWatcher) lastLines(n int) string {
	lines := strings.Split(w.text(), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
