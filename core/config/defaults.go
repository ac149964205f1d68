// Package config loads the operator's configuration for an sshgress edge.
//
// Configuration is layered with koanf: built-in defaults, then a YAML file
// (--config FILE), then SSHGRESS_… environment variables, then command-line
// flags; each layer overrides the ones before it. The defaults run a
// complete edge on one machine with no file at all: base domain "localhost",
// every listener on loopback.
//
// Load validates everything once and fails fast: every error names the key
// that is wrong ("config: ssh.addr: ...") and unknown keys or environment
// variables are errors, so a typo never passes silently.
package config

import (
	"os"
	"path/filepath"
	"time"

	"github.com/sshgress/sshgress/core/accesslog"
	"github.com/sshgress/sshgress/core/certs"
	"github.com/sshgress/sshgress/core/command"
	"github.com/sshgress/sshgress/core/cryptopolicy"
	"github.com/sshgress/sshgress/core/httpedge"
	"github.com/sshgress/sshgress/core/httpedge/forward"
	"github.com/sshgress/sshgress/core/inspect"
	"github.com/sshgress/sshgress/core/sshserver"
	"github.com/sshgress/sshgress/core/tunnel"
)

// Defaults returns a fresh copy of the built-in configuration, with DataDir
// derived from this process's environment. SSH.PublicHost is empty here;
// Load sets it to the final Domain when nothing else sets it.
func Defaults() *Config {
	return defaults(os.LookupEnv)
}

// defaults builds the default configuration, looking up XDG_STATE_HOME and
// HOME with lookup.
//
// The values of settings that feed one package come from that package's
// exported defaults (sshserver, httpedge, tunnel, certs, command), so each
// default is written once; the rest (addresses, shutdown grace, visitor
// connection caps) exist only here.
func defaults(lookup func(string) (string, bool)) *Config {
	ssh := sshserver.DefaultLimits()
	return &Config{
		Domain:  "localhost",
		DataDir: defaultDataDir(lookup),
		Log:     Log{Level: "info", Format: "text", Access: accesslog.Stderr},
		SSH: SSH{
			Addr:              "127.0.0.1:2222",
			HandshakeTimeout:  sshserver.DefaultHandshakeTimeout,
			KeepaliveInterval: sshserver.DefaultKeepaliveInterval,
			KeepaliveCount:    sshserver.DefaultKeepaliveCount,
			CommandWait:       sshserver.DefaultCommandWait,
			ExecWait:          sshserver.DefaultExecWait,
			IdleNoForward:     sshserver.DefaultIdleNoForward,
			Registration:      RegistrationOff,
			KeyExchanges:      cryptopolicy.KeyExchanges.Defaults(),
			Ciphers:           cryptopolicy.Ciphers.Defaults(),
			MACs:              cryptopolicy.MACs.Defaults(),
		},
		HTTP: HTTP{
			Addr:                "127.0.0.1:8080",
			ReadHeaderTimeout:   httpedge.DefaultReadHeaderTimeout,
			MaxHeaderBytes:      httpedge.DefaultMaxHeaderBytes,
			IdleTimeout:         httpedge.DefaultIdleTimeout,
			BodyIdleTimeout:     httpedge.DefaultBodyIdleTimeout,
			UpstreamIdle:        forward.DefaultMaxIdle,
			UpstreamIdleTimeout: forward.DefaultIdleTimeout,
			DialTimeout:         tunnel.DefaultDialTimeout,
		},
		HTTPS: HTTPS{
			Addr: "127.0.0.1:8443",
			ACME: ACME{OrdersPerHour: certs.DefaultOrdersPerHour},
		},
		Admin:   Admin{Addr: "127.0.0.1:2280"},
		Metrics: Metrics{Enabled: true},
		Limits: Limits{
			ForwardsPerConn:   sshserver.DefaultMaxForwards,
			TunnelsPerAccount: ssh.TunnelsPerAccount,
			MaxExecBytes:      command.MaxExecBytes,
			ShutdownGrace:     10 * time.Second,

			UnauthPerSource:       ssh.UnauthPerSource,
			UnauthTotal:           ssh.UnauthTotal,
			FailuresBeforePenalty: ssh.FailuresBeforePenalty,
			PenaltyWindow:         ssh.PenaltyWindow,
			ChannelsPerConn:       ssh.ChannelsPerConn,
			ChannelsTotal:         ssh.ChannelsTotal,
			VisitorConnsPerIP:     256,
			VisitorConnsTotal:     20000,
			InspectorBytes:        inspect.DefaultEdgeBytes,
		},
		Dashboard: dashboardDefaults(),
		Events:    eventsDefaults(),
	}
}

// defaultDataDir follows the XDG base directory spec: $XDG_STATE_HOME when
// it is an absolute path, else ~/.local/state, else the working directory.
func defaultDataDir(lookup func(string) (string, bool)) string {
	if dir, ok := lookup("XDG_STATE_HOME"); ok && filepath.IsAbs(dir) {
		return filepath.Join(dir, "sshgress")
	}
	if home, ok := lookup("HOME"); ok && filepath.IsAbs(home) {
		return filepath.Join(home, ".local", "state", "sshgress")
	}
	return "./sshgress-data"
}
