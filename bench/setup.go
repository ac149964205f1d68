package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Paths of the tools the harness drives.
const (
	sshdPath = "/usr/sbin/sshd" // sshd must be started by absolute path
)

// tools are the executables every run needs, found on PATH except sshd.
var tools = []string{"ssh", "ssh-keygen", "wrk", "go"}

// checkTools reports the first missing tool.
func checkTools() error {
	var missing []string
	for _, t := range tools {
		if _, err := exec.LookPath(t); err != nil {
			missing = append(missing, t)
		}
	}
	if st, err := os.Stat(sshdPath); err != nil || st.IsDir() {
		missing = append(missing, sshdPath+" (Debian openssh-server)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("bench: missing tools: %s", strings.Join(missing, ", "))
	}
	return nil
}

// env is one benchmark run's world: a temp dir, the processes, the
// backend, the client key and sshd.
type env struct {
	dir      string
	ps       *procSet
	back     *backend
	key      string // client private key path
	user     string // local user sshd lets in
	sshdPort int
	sshd     *proc // the sshd master; its tree holds the per-connection processes
	progress io.Writer
	// edgeFlags caches, per edge binary, the flags its `serve --help` lists.
	edgeFlags map[string]string
}

// edgeHas reports whether bin's serve command has the flag name (the
// listeners grow as endpoint types land; each must get a free port).
func (e *env) edgeHas(bin, name string) bool {
	if e.edgeFlags == nil {
		e.edgeFlags = map[string]string{}
	}
	help, ok := e.edgeFlags[bin]
	if !ok {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, _ := exec.CommandContext(ctx, bin, "serve", "--help").CombinedOutput()
		cancel()
		help = string(out)
		e.edgeFlags[bin] = help
	}
	return strings.Contains(help, name+" ")
}

// logf writes a progress line.
func (e *env) logf(format string, args ...any) {
	if e.progress != nil {
		fmt.Fprintf(e.progress, "bench: "+format+"\n", args...)
	}
}

// run executes a short helper command, bounded by a timeout.
func runTool(ctx context.Context, dir string, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("bench: %s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// findRepo returns the module root of sshgress above the working directory.
func findRepo() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("bench: find repo: %w", err)
	}
	for i := 0; i < 64; i++ {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/sshgress/sshgress\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", errors.New("bench: run inside the sshgress repository (or pass -repo DIR)")
}

// genKey creates an ed25519 key pair at path (no passphrase).
func genKey(ctx context.Context, path, comment string) error {
	return runTool(ctx, "", "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path)
}

// startSSHD runs OpenSSH's sshd on a free loopback port with its own host
// key, config and authorized_keys in the temp dir.
func (e *env) startSSHD(ctx context.Context) error {
	u, err := user.Current()
	if err != nil {
		return fmt.Errorf("bench: current user: %w", err)
	}
	e.user = u.Username
	if os.Geteuid() == 0 {
		// sshd refuses to start without its privilege separation directory.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			return fmt.Errorf("bench: sshd privilege separation dir: %w", err)
		}
	}
	hostKey := filepath.Join(e.dir, "sshd_host_ed25519_key")
	if err := genKey(ctx, hostKey, "bench sshd host key"); err != nil {
		return err
	}
	pub, err := os.ReadFile(e.key + ".pub")
	if err != nil {
		return fmt.Errorf("bench: client key: %w", err)
	}
	authKeys := filepath.Join(e.dir, "authorized_keys")
	if err := os.WriteFile(authKeys, pub, 0o600); err != nil {
		return fmt.Errorf("bench: authorized_keys: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	e.sshdPort = port
	cfg := strings.Join([]string{
		"Port " + strconv.Itoa(port),
		"ListenAddress 127.0.0.1",
		"HostKey " + hostKey,
		"PidFile none",
		"UsePAM no",
		"AuthorizedKeysFile " + authKeys,
		"StrictModes no",
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PermitRootLogin prohibit-password",
		"AllowTcpForwarding yes",
		"GatewayPorts no",
		"X11Forwarding no",
		"AllowAgentForwarding no",
		"PermitTTY no",
		"PermitUserRC no",
		"PrintMotd no",
		"PrintLastLog no",
		"UseDNS no",
		"MaxStartups 100:30:200",
		"MaxSessions 20",
		"LogLevel ERROR",
		"",
	}, "\n")
	cfgPath := filepath.Join(e.dir, "sshd_config")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return fmt.Errorf("bench: sshd_config: %w", err)
	}
	if err := runTool(ctx, "", sshdPath, "-t", "-f", cfgPath); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(e.dir, "sshd.log"))
	if err != nil {
		return fmt.Errorf("bench: sshd log: %w", err)
	}
	cmd := exec.Command(sshdPath, "-D", "-e", "-f", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	p, err := e.ps.start("sshd", cmd)
	logf.Close()
	if err != nil {
		return err
	}
	e.sshd = p
	return waitListening(ctx, "127.0.0.1:"+strconv.Itoa(port), p, 10*time.Second)
}

// waitListening dials addr until it accepts, p exits or d passes.
func waitListening(ctx context.Context, addr string, p *proc, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if p != nil && p.exited() {
			return fmt.Errorf("bench: %s exited before listening on %s", p.name, addr)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("bench: %s not listening on %s after %s", p.name, addr, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sshClient is one running OpenSSH client process.
type sshClient struct {
	p      *proc
	stdout *lineWatcher
	stderr *lineWatcher
	stdin  io.WriteCloser // kept open: EOF could end a session early
}

// close ends the client.
func (c *sshClient) close() {
	c.p.kill()
	c.stdin.Close()
}

// describe returns what the client printed, for error messages.
func (c *sshClient) describe() string {
	s := strings.TrimSpace(c.stdout.text() + "\n" + c.stderr.text())
	if len(s) > 2000 {
		s = s[:2000] + "…"
	}
	return s
}

// startSSH runs ssh with the harness's key and neutral options against
// 127.0.0.1:port, as login, with extra options and the remote command.
func (e *env) startSSH(name string, port int, login string, extra []string, remote ...string) (*sshClient, error) {
	args := []string{
		"-F", "/dev/null", "-i", e.key,
		"-o", "IdentitiesOnly=yes",
		"-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null",
		"-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes",
		"-o", "LogLevel=ERROR",
		"-o", "ExitOnForwardFailure=yes",
		"-o", "ControlMaster=no",
		"-o", "ControlPath=none",
		"-o", "ServerAliveInterval=0",
		"-p", strconv.Itoa(port),
	}
	args = append(args, extra...)
	args = append(args, login+"@127.0.0.1")
	args = append(args, remote...)
	cmd := exec.Command("ssh", args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("bench: ssh stdin: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("bench: ssh stdout: %w", err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("bench: ssh stderr: %w", err)
	}
	p, err := e.ps.start(name, cmd)
	if err != nil {
		return nil, err
	}
	return &sshClient{p: p, stdin: stdin, stdout: newLineWatcher(stdout), stderr: newLineWatcher(stderr)}, nil
}

// cipherArgs returns the ssh options that force cipher ("" keeps the
// client's default choice).
func cipherArgs(cipher string) []string {
	if cipher == "" {
		return nil
	}
	return []string{"-c", cipher}
}

// sshdTunnel is an ssh -R to the harness's sshd: visitors reach the
// backend's HTTP server at httpPort and its TCP source at tcpPort.
type sshdTunnel struct {
	c                 *sshClient
	httpPort, tcpPort int
}

// startSSHDTunnel runs ssh -R 127.0.0.1:P:BACKEND (and one for the TCP
// source) against sshd, with a session running sleep or with -N.
func (e *env) startSSHDTunnel(ctx context.Context, name, cipher string, withSession bool) (*sshdTunnel, error) {
	hp, err := freePort()
	if err != nil {
		return nil, err
	}
	tp, err := freePort()
	if err != nil {
		return nil, err
	}
	extra := cipherArgs(cipher)
	extra = append(extra,
		"-R", fmt.Sprintf("127.0.0.1:%d:%s", hp, e.back.httpAddr),
		"-R", fmt.Sprintf("127.0.0.1:%d:%s", tp, e.back.tcpAddr))
	var remote []string
	if withSession {
		remote = []string{"sleep 86400"}
	} else {
		extra = append(extra, "-N")
	}
	c, err := e.startSSH(name, e.sshdPort, e.user, extra, remote...)
	if err != nil {
		return nil, err
	}
	return &sshdTunnel{c: c, httpPort: hp, tcpPort: tp}, nil
}

// edgeProc is a running sshgress edge.
type edgeProc struct {
	p                 *proc
	sshPort, httpPort int
	pprofAddr         string
	log               *lineWatcher
}

// startEdge runs bin serve on free loopback ports with its own data dir
// and waits for it to say it started. extraEnv is added to the
// environment (plugin switches, the pprof address), extraArgs to the
// serve flags.
func (e *env) startEdge(ctx context.Context, name, bin string, extraEnv []string, withPprof bool, extraArgs ...string) (*edgeProc, error) {
	sp, err := freePort()
	if err != nil {
		return nil, err
	}
	hp, err := freePort()
	if err != nil {
		return nil, err
	}
	ep := &edgeProc{sshPort: sp, httpPort: hp}
	envv := append(cleanEnv(), extraEnv...)
	if withPprof {
		pp, err := freePort()
		if err != nil {
			return nil, err
		}
		ep.pprofAddr = "127.0.0.1:" + strconv.Itoa(pp)
		envv = append(envv, "EDGEPROF_PPROF_ADDR="+ep.pprofAddr)
	}
	dataDir := filepath.Join(e.dir, name+"-data")
	args := []string{"serve",
		"--ssh-addr", "127.0.0.1:" + strconv.Itoa(sp),
		"--http-addr", "127.0.0.1:" + strconv.Itoa(hp),
		"--data-dir", dataDir}
	if e.edgeHas(bin, "--https-addr") {
		tp, err := freePort()
		if err != nil {
			return nil, err
		}
		args = append(args, "--https-addr", "127.0.0.1:"+strconv.Itoa(tp))
	}
	if e.edgeHas(bin, "--admin-addr") {
		args = append(args, "--admin-addr", "127.0.0.1:0")
	}
	args = append(args, extraArgs...)
	cmd := exec.Command(bin, args...)
	cmd.Env = envv
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("bench: edge stderr: %w", err)
	}
	p, err := e.ps.start(name, cmd)
	if err != nil {
		return nil, err
	}
	ep.p = p
	ep.log = newLineWatcher(stderr)
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := ep.log.wait(wctx, func(l string) bool { return strings.Contains(l, "edge started") }); err != nil {
		p.kill()
		return nil, fmt.Errorf("bench: %s did not start: %w: %s", name, err, ep.log.text())
	}
	return ep, nil
}

// cleanEnv is the harness's environment without SSHGRESS_ variables, so
// an operator's settings do not leak into the measured edges.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SSHGRESS_") && !strings.HasPrefix(kv, "EDGEPROF_") {
			out = append(out, kv)
		}
	}
	return out
}

// gressTunnel is an ssh -R to an sshgress edge.
type gressTunnel struct {
	c    *sshClient
	url  string // http://NAME.localhost:PORT or tcp://localhost:PORT
	host string // Host header for http tunnels
	addr string // host:port to dial for tcp tunnels
}

// startGressTunnel runs ssh -R 80:BACKEND (or -R 0:TCPSOURCE for tcp)
// against the edge with the command words cmd and waits for the
// Forwarding line.
func (e *env) startGressTunnel(ctx context.Context, name string, ep *edgeProc, cipher string, cmd ...string) (*gressTunnel, error) {
	forward := "80:" + e.back.httpAddr
	if len(cmd) > 0 && cmd[0] == "tcp" {
		forward = "0:" + e.back.tcpAddr
	}
	return e.startGressForward(ctx, name, ep, cipher, forward, cmd...)
}

// startGressForward is startGressTunnel with the -R argument given
// (NAME:80:BACKEND for a named tunnel, such as a pool member's).
func (e *env) startGressForward(ctx context.Context, name string, ep *edgeProc, cipher, forward string, cmd ...string) (*gressTunnel, error) {
	scheme := "http://"
	if len(cmd) > 0 && cmd[0] == "tcp" {
		scheme = "tcp://"
	}
	extra := append(cipherArgs(cipher), "-R", forward)
	c, err := e.startSSH(name, ep.sshPort, "v2", extra, cmd...)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	line, err := c.stdout.wait(wctx, func(l string) bool { return strings.Contains(l, "Forwarding  "+scheme) })
	if err != nil {
		// Give the client a moment to print why it stopped.
		select {
		case <-c.p.done:
		case <-time.After(500 * time.Millisecond):
		}
		c.close()
		return nil, fmt.Errorf("bench: %s: no Forwarding line: %w: %s", name, err, c.describe())
	}
	return parseForwarding(c, line, scheme)
}

// parseForwarding reads "Forwarding  http://NAME.localhost:PORT -> …".
func parseForwarding(c *sshClient, line, scheme string) (*gressTunnel, error) {
	i := strings.Index(line, scheme)
	rest := line[i:]
	if j := strings.IndexByte(rest, ' '); j >= 0 {
		rest = rest[:j]
	}
	t := &gressTunnel{c: c, url: rest}
	hostport := strings.TrimPrefix(rest, scheme)
	if scheme == "http://" {
		t.host = hostport
		return t, nil
	}
	_, port, err := net.SplitHostPort(hostport)
	if err != nil {
		c.close()
		return nil, fmt.Errorf("bench: forwarding line %q: %w", line, err)
	}
	t.addr = "127.0.0.1:" + port
	return t, nil
}
