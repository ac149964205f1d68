package e2e_test

import (
	"context"
	"log/slog"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core"
	"github.com/sshgress/sshgress/core/config"
	"github.com/sshgress/sshgress/e2e"
)

// TestNewCleansUpOnFailedStart makes core.New fail at a step after
// listeners (and plugins) are up and checks it left nothing behind: every
// port it bound can be bound again and no plugin process still runs.
func TestNewCleansUpOnFailedStart(t *testing.T) {
	bin := e2e.SharedBinary(t)
	yes := true
	tests := []struct {
		name string
		// setup edits the config to make New fail; taken is a listener
		// holding https.addr's port, or nil.
		setup      func(t *testing.T, c *config.Config, taken net.Listener)
		takeHTTPS  bool
		wantPlugin bool
		wantErr    string
	}{
		{
			name:      "https port taken",
			takeHTTPS: true,
			setup: func(t *testing.T, c *config.Config, taken net.Listener) {
				c.HTTPS.Addr = taken.Addr().String()
			},
			wantErr: "https listener (https.addr)",
		},
		{
			name:       "certificate missing after the plugin started",
			wantPlugin: true,
			setup: func(t *testing.T, c *config.Config, _ net.Listener) {
				c.Plugins = map[string]config.Plugin{"basicauth": {Enabled: &yes}}
				dir := t.TempDir()
				c.HTTPS.CertFile = filepath.Join(dir, "missing.crt")
				c.HTTPS.KeyFile = filepath.Join(dir, "missing.key")
			},
			wantErr: "missing.crt",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Defaults()
			cfg.DataDir = t.TempDir()
			cfg.SSH.Addr = freeAddr(t)
			cfg.HTTP.Addr = freeAddr(t)
			cfg.HTTPS.Addr = freeAddr(t)
			cfg.Admin.Addr = "127.0.0.1:0"
			var taken net.Listener
			if tt.takeHTTPS {
				var err error
				if taken, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
					t.Fatal(err)
				}
				defer taken.Close()
			}
			tt.setup(t, cfg, taken)

			var started atomic.Int32
			opts := core.Options{
				Logger: slog.New(slog.DiscardHandler),
				BundledPlugin: func(name string) *exec.Cmd {
					started.Add(1)
					return exec.Command(bin, "plugin", name)
				},
				Bundled: bundled(),
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			e, err := core.New(ctx, cfg, opts)
			if err == nil {
				e.Shutdown(ctx)
				t.Fatal("core.New succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("core.New: %v, want an error containing %q", err, tt.wantErr)
			}
			if got := started.Load() > 0; got != tt.wantPlugin {
				t.Fatalf("plugin started: %v, want %v (the failure is not at the step this case tests)", got, tt.wantPlugin)
			}

			addrs := []string{cfg.SSH.Addr, cfg.HTTP.Addr}
			if !tt.takeHTTPS {
				addrs = append(addrs, cfg.HTTPS.Addr)
			}
			for _, addr := range addrs {
				ln, err := net.Listen("tcp", addr)
				if err != nil {
					t.Errorf("after the failed New, %s cannot be bound again (a leaked listener?): %v", addr, err)
					continue
				}
				ln.Close()
			}
			// Stopping a plugin waits for its process, so none should be
			// left; the bounded poll only absorbs /proc's view lagging.
			deadline := time.Now().Add(10 * time.Second)
			for {
				pids := e2e.Processes(bin, "plugin", "basicauth")
				if len(pids) == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("after the failed New, plugin processes %v still run", pids)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

// freeAddr returns a loopback address with a port that was free a moment
// ago, so the test knows which port New binds.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
