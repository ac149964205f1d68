// Command sshgress is the sshgress edge: `sshgress serve` runs it,
// `sshgress plugin NAME` runs a bundled plugin (the edge starts these as
// its own child processes), `sshgress version` prints the version.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/sshgress/sshgress/core"
	"github.com/sshgress/sshgress/core/config"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `Usage:
  sshgress serve [flags]     run the edge (no flags needed on a laptop)
  sshgress plugin NAME       run a bundled plugin (started by the edge itself)
  sshgress admin COMMAND     manage accounts, keys and tunnels (docs/admin.md)
  sshgress status            one screen about a running edge (docs/observability.md)
  sshgress version           print the version

Run "sshgress serve --help" for the serve flags.
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stderr)
	case "admin":
		return runAdmin(args[1:], os.Stdin, stdout, stderr)
	case "status":
		return runStatus(args[1:], stdout, stderr)
	case "plugin":
		if len(args) != 2 {
			fmt.Fprintln(stderr, "sshgress plugin: need exactly one plugin name")
			return 2
		}
		return runPlugin(args[1], stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "sshgress", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "sshgress: unknown command %q\n\n%s", args[0], usage)
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
		fmt.Fprintln(stderr, "sshgress:", err)
		return 1
	}
	log := newLogger(cfg, stderr)
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, "sshgress: cannot find my own executable to run bundled plugins:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stopDebug, err := startDebug()
	if err != nil {
		fmt.Fprintln(stderr, "sshgress:", err)
		return 1
	}
	defer stopDebug()
	edge, err := core.New(ctx, cfg, core.Options{
		Logger:        log,
		BundledPlugin: func(name string) *exec.Cmd { return exec.Command(self, "plugin", name) },
		Bundled:       bundledManifests(),
	})
	if err != nil {
		fmt.Fprintln(stderr, "sshgress:", err)
		return 1
	}
	if err := edge.Start(); err != nil {
		fmt.Fprintln(stderr, "sshgress:", err)
		edge.Shutdown(context.Background())
		return 1
	}
	// SIGHUP re-reads the config file; Reload applies what can change
	// live, and a broken file changes nothing.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for ctx.Err() == nil {
		select {
		case <-hup:
			// The access log file first, so logrotate's postrotate works
			// even when the config file does not load.
			edge.ReopenLogs()
			log.Info("SIGHUP: re-reading the config file")
			next, err := config.Load(fs, os.Environ())
			if err != nil {
				log.Error("config reload rejected: the file does not load; the previous config stays in force", "err", err)
				continue
			}
			edge.Reload(next) // logs what changed or why not
		case <-ctx.Done():
		}
	}
	log.Info("shutting down", "grace", cfg.Limits.ShutdownGrace)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Limits.ShutdownGrace)
	defer cancel()
	if err := edge.Shutdown(sctx); err != nil {
		log.Warn("shutdown was not clean", "err", err)
	}
	return 0
}

// startDebug starts debugging endpoints; a no-op unless built with
// -tags pprof (see pprof.go).
var startDebug = func() (stop func(), err error) { return func() {}, nil }

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
