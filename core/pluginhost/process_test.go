package pluginhost

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestRestartAfterKill(t *testing.T) {
	h, logs := startHost(t, []Spec{{Name: "basicauth"}}, Options{})
	var mu sync.Mutex
	var lines []string
	notify := func(s string) {
		mu.Lock()
		lines = append(lines, s)
		mu.Unlock()
	}
	c, err := h.Open(context.Background(), basicTunnel("t1", "ann:correct-horse"), notify)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer c.Close()
	good := func() (Decision, error) { return c.Check(get(basic("ann", "correct-horse")), client, nil) }
	if d, err := good(); err != nil || d.Respond {
		t.Fatalf("Check before kill = %+v, %v; want continue", d, err)
	}
	oldPID := h.plugins["basicauth"].cur.Load().pid
	if err := syscall.Kill(oldPID, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d: %v", oldPID, err)
	}
	killed := time.Now()

	// Fail closed while it is down (the cache is void after a crash).
	sawError := false
	for time.Since(killed) < 2*time.Second {
		d, err := good()
		if err != nil {
			sawError = true
			break
		}
		if d.Respond {
			t.Fatalf("Check after kill answered %d, want an error or continue", d.Status)
		}
		time.Sleep(2 * time.Millisecond)
	}
	if !sawError {
		t.Error("Check never failed while the plugin was down")
	}
	// Back within 2 s, with the tunnel replayed (no new Open).
	var lastErr error
	for {
		d, err := good()
		if err == nil && !d.Respond {
			break
		}
		lastErr = err
		if time.Since(killed) > 2*time.Second {
			t.Fatalf("plugin not serving 2s after kill -9: last %+v, %v", d, lastErr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("serving again %v after kill -9", time.Since(killed))
	if d, err := c.Check(get(basic("ann", "nope-nope")), client, nil); err != nil || !d.Respond || d.Status != 401 {
		t.Errorf("wrong password after restart = %+v, %v; want 401", d, err)
	}

	newPID := h.plugins["basicauth"].cur.Load().pid
	if newPID == oldPID || processAlive(oldPID) {
		t.Errorf("old pid %d alive=%v, new pid %d; want a new process and the old one gone", oldPID, processAlive(oldPID), newPID)
	}
	if n := countPluginProcesses(t); n != 1 {
		t.Errorf("%d plugin processes after restart, want exactly 1", n)
	}
	mu.Lock()
	got := strings.Join(lines, "\n")
	mu.Unlock()
	for _, want := range []string{"basicauth plugin stopped", "basicauth plugin restarted; protection restored"} {
		if !strings.Contains(got, want) {
			t.Errorf("notify lines %q lack %q", got, want)
		}
	}
	for _, want := range []string{"plugin process exited; restarting it", "plugin restarted"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
	if strings.Contains(logs.String(), "correct-horse") {
		t.Error("log contains a password")
	}
}

func TestCloseKillsProcesses(t *testing.T) {
	h, _ := startHost(t, []Spec{{Name: "basicauth"}, {Name: "misbehave"}}, Options{})
	c, err := h.Open(context.Background(), basicTunnel("t1", "ann:correct-horse"), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	var pids []int
	for _, p := range h.plugins {
		pids = append(pids, p.cur.Load().pid)
	}
	if n := countPluginProcesses(t); n != 2 {
		t.Errorf("%d plugin processes, want 2", n)
	}
	if err := h.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := h.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for _, pid := range pids {
		if processAlive(pid) {
			t.Errorf("plugin pid %d alive after Close", pid)
		}
	}
	if _, err := c.Check(get(basic("ann", "correct-horse")), client, nil); err == nil {
		t.Error("Check after Close succeeded, want fail closed")
	}
	c.Close()
	c.Close()
	if _, err := h.Open(context.Background(), basicTunnel("t2", "ann:correct-horse"), nil); err == nil {
		t.Error("Open after Close succeeded")
	}
}

// TestNoOrphans kills -9 a process running a host and checks that the
// kernel takes its plugin down with it (parent-death signal).
func TestNoOrphans(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a helper process")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PLUGINHOST_ORPHAN_HELPER="+testBin)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("read plugin pid from helper: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("helper printed %q, want a pid", line)
	}
	if !processAlive(pid) {
		t.Fatalf("plugin pid %d not alive before the host is killed", pid)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	deadline := time.Now().Add(2 * time.Second)
	for processAlive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("plugin pid %d outlived its killed host", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// orphanHelper runs in a child test process: it starts a host, prints the
// plugin's pid and waits to be killed.
func orphanHelper() {
	bin := os.Getenv("PLUGINHOST_ORPHAN_HELPER")
	h, err := Start(context.Background(), []Spec{{Name: "basicauth"}}, Options{
		Bundled: func(name string) *exec.Cmd { return exec.Command(bin, "plugin", name) },
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(h.plugins["basicauth"].cur.Load().pid)
	time.Sleep(30 * time.Second)
	h.Close()
	os.Exit(0)
}

func TestBackoff(t *testing.T) {
	want := []time.Duration{0, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, 1600 * time.Millisecond, 3200 * time.Millisecond, 5 * time.Second, 5 * time.Second}
	for n, w := range want {
		if got := backoff(n); got != w {
			t.Errorf("backoff(%d) = %v, want %v", n, got, w)
		}
	}
}

func TestUserText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"basic auth (2 users)", "basic auth (2 users)"},
		{"a\nb\r\x1b[2Jc", "a b  [2Jc"},
		{strings.Repeat("é", 300), strings.Repeat("é", 256) + "…"},
		{"  ", ""},
	}
	for _, tt := range tests {
		if got := userText(tt.in); got != tt.want {
			t.Errorf("userText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	if err != nil {
		return !errors.Is(err, syscall.ESRCH)
	}
	// A zombie still answers signal 0; it is not running.
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

// countPluginProcesses counts this process's living children that run the
// test plugin executable.
func countPluginProcesses(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	self := os.Getpid()
	n := 0
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(fields) < 2 || fields[0] == "Z" || fields[1] != strconv.Itoa(self) {
			continue
		}
		if exe, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "exe")); err == nil && exe == testBin {
			n++
		}
	}
	return n
}
