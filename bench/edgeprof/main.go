// Command edgeprof is the sshgress edge with a CPU profiler attached, for
// the benchmark harness only (go run ./bench -cpuprofile FILE). It wires
// the core exactly like cmd/sshgress serve and, when EDGEPROF_PPROF_ADDR
// names a loopback host:port, serves net/http/pprof there. Never ship it:
// the pprof endpoint exposes the process's internals.
//
// Usage:
//
//	EDGEPROF_PPROF_ADDR=127.0.0.1:6060 edgeprof serve --ssh-addr … --http-addr … --data-dir …
//	edgeprof plugin NAME   (run by the edge itself for bundled plugins)
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/sshgress/sshgress/core"
	"github.com/sshgress/sshgress/core/config"
	"github.com/sshgress/sshgress/plugins/basicauth"
	"github.com/sshgress/sshgress/sdk"
)

// pprofAddrEnv names the environment variable holding the pprof listener's
// address. It is outside the SSHGRESS_ prefix so config.Load ignores it.
const pprofAddrEnv = "EDGEPROF_PPROF_ADDR"

// bundled lists the plugins this binary can run as children, like
// cmd/sshgress does.
var bundled = map[string]func() sdk.Plugin{
	basicauth.Name: func() sdk.Plugin { return basicauth.New() },
}

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: edgeprof serve [sshgress serve flags] | edgeprof plugin NAME")
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stderr)
	case "plugin":
		if len(args) != 2 {
			fmt.Fprintln(stderr, "edgeprof plugin: need exactly one plugin name")
			return 2
		}
		newPlugin, ok := bundled[args[1]]
		if !ok {
			fmt.Fprintf(stderr, "edgeprof plugin: no bundled plugin %q\n", args[1])
			return 2
		}
		sdk.Serve(newPlugin())
		return 0
	default:
		fmt.Fprintf(stderr, "edgeprof: unknown command %q\n", args[0])
		return 2
	}
}

func serve(args []string, stderr io.Writer) int {
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	config.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		return 2
	}
	cfg, err := config.Load(fs, os.Environ())
	if err != nil {
		fmt.Fprintln(stderr, "edgeprof:", err)
		return 1
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, "edgeprof: find own executable:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if addr := os.Getenv(pprofAddrEnv); addr != "" {
		srv, err := startPprof(addr)
		if err != nil {
			fmt.Fprintln(stderr, "edgeprof:", err)
			return 1
		}
		defer srv.Close()
	}

	manifests := make([]sdk.Manifest, 0, len(bundled))
	for _, newPlugin := range bundled {
		manifests = append(manifests, newPlugin().Manifest())
	}
	edge, err := core.New(ctx, cfg, core.Options{
		Logger:        log,
		BundledPlugin: func(name string) *exec.Cmd { return exec.Command(self, "plugin", name) },
		Bundled:       manifests,
	})
	if err != nil {
		fmt.Fprintln(stderr, "edgeprof:", err)
		return 1
	}
	if err := edge.Start(); err != nil {
		fmt.Fprintln(stderr, "edgeprof:", err)
		edge.Shutdown(context.Background())
		return 1
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Limits.ShutdownGrace)
	defer cancel()
	if err := edge.Shutdown(sctx); err != nil {
		log.Warn("shutdown was not clean", "err", err)
	}
	return 0
}

// startPprof serves the pprof handlers on addr, which must be a loopback
// address.
func startPprof(addr string) (*http.Server, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pprofAddrEnv, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("%s: %q is not a loopback address", pprofAddrEnv, addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pprof listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return srv, nil
}
