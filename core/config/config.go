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
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Config is the whole configuration of one edge node. Load returns it
// validated and normalised; the zero value is not usable, start from
// Defaults.
type Config struct {
	// Domain is the base domain under which tunnels get their public
	// names (random-label.Domain). Default "localhost". Load normalises it
	// as routing does (dnsname.Normalize: lowercase, trailing dot
	// stripped, an internationalised name turned into its xn-- form); it
	// must be a DNS name without a port, not an IP address.
	Domain string `koanf:"domain"`

	// DataDir is the directory for state the edge creates itself: the
	// generated SSH host key and generated secrets. Default
	// $XDG_STATE_HOME/sshgress, else ~/.local/state/sshgress, else
	// "./sshgress-data". A relative path is relative to the working
	// directory. It holds private keys: keep it readable by the edge's
	// user only.
	DataDir string `koanf:"data_dir"`

	// Log configures the edge's own log output.
	Log Log `koanf:"log"`

	// SSH configures the SSH server users connect to.
	SSH SSH `koanf:"ssh"`

	// HTTP configures the public HTTP listener.
	HTTP HTTP `koanf:"http"`

	// HTTPS configures the shared TLS port: https for http endpoints and
	// TLS passthrough for tls endpoints, with certificates.
	HTTPS HTTPS `koanf:"https"`

	// Limits bounds what one connection or account may hold.
	Limits Limits `koanf:"limits"`

	// Accounts are the users allowed to open tunnels, each with its SSH
	// public keys and reservations. Default none. Accounts can be set only
	// in the config file, never from the environment or flags.
	Accounts []Account `koanf:"accounts"`

	// Admin configures the management API listener (core/admin).
	Admin Admin `koanf:"admin"`

	// Metrics configures the Prometheus metrics served at /metrics on the
	// admin listener (core/metrics).
	Metrics Metrics `koanf:"metrics"`

	// Plugins configures plugins by name: the bundled ones (basicauth,
	// oauth, tcp, tls) and third-party executables. Default none, which
	// leaves every bundled plugin disabled. Names are lowercase letters,
	// digits and hyphens, starting with a letter.
	Plugins map[string]Plugin `koanf:"plugins"`

	// Dashboard configures the self-service web dashboard (dashboard.go).
	Dashboard Dashboard `koanf:"dashboard"`

	// ProxyProtocol configures the PROXY protocol on the public HTTP and
	// HTTPS listeners, for an edge behind a load balancer.
	ProxyProtocol ProxyProtocol `koanf:"proxy_protocol"`

	// Events configures the event webhook (events.go).
	Events Events `koanf:"events"`
}

// ProxyProtocol configures reading PROXY protocol headers (v1 and v2)
// from trusted load balancers on the public http and https listeners.
type ProxyProtocol struct {
	// Trusted are the addresses (CIDRs or single IPs) of the load
	// balancers in front of the edge. Default none: no header is read.
	// A connection from a trusted address must start with a PROXY header,
	// whose source address then stands for the visitor everywhere (the
	// X-Forwarded-For header, the session's request lines, the access
	// log, CIDR rules); a connection from any other address that sends
	// one is closed, so visitors cannot claim another address.
	Trusted []string `koanf:"trusted"`
}

// Log configures logging.
type Log struct {
	// Level is the minimum level logged: debug, info, warn or error.
	// Default "info". Debug logs may include client addresses.
	Level string `koanf:"level"`

	// Format is the log line format: text or json. Default "text". The
	// access log uses it too.
	Format string `koanf:"format"`

	// Access is where the access log goes (docs/observability.md): one
	// line per visitor request or TCP/TLS connection. "stderr" (default)
	// writes beside this log, "off" turns it off, anything else is a file
	// path, opened for appending (created 0640) and reopened on SIGHUP.
	// The lines name visitors' addresses, never a credential.
	Access string `koanf:"access"`
}

// The values of ssh.registration.
const (
	RegistrationOff    = "off"
	RegistrationInvite = "invite"
)

// SSH configures the SSH server.
type SSH struct {
	// Addr is the host:port the SSH server listens on. Default
	// "127.0.0.1:2222" (loopback only); use ":2222" to accept users from
	// other machines. Port 0 picks a free port.
	Addr string `koanf:"addr"`

	// PublicHost is the host name users type in their ssh command; it is
	// shown in help and banners only. Default: Domain. It may be a DNS
	// name or an IP address.
	PublicHost string `koanf:"public_host"`

	// HostKeyFile is the path of the server's private host key. Default ""
	// means <data_dir>/ssh_host_ed25519_key, generated on first start (see
	// Config.HostKeyPath). A file named here explicitly must exist. The
	// key is the server's identity: keep it private.
	HostKeyFile string `koanf:"host_key_file"`

	// HandshakeTimeout bounds the SSH handshake plus authentication of a
	// new connection; slower clients are dropped. Default 30s.
	HandshakeTimeout time.Duration `koanf:"handshake_timeout"`

	// KeepaliveInterval is how often the server sends a keepalive request
	// to each client. Default 15s.
	KeepaliveInterval time.Duration `koanf:"keepalive_interval"`

	// KeepaliveCount is how many keepalives in a row may go unanswered
	// before the connection is closed. Default 3.
	KeepaliveCount int `koanf:"keepalive_count"`

	// CommandWait is how long port-forward requests wait for the
	// session's exec request before the connection is treated as having
	// no command (ssh -N). Default 300ms.
	CommandWait time.Duration `koanf:"command_wait"`

	// ExecWait is how long, once a session channel is open, the server
	// waits for its exec or shell request. Default 10s.
	ExecWait time.Duration `koanf:"exec_wait"`

	// IdleNoForward closes an authenticated connection that has no
	// forwards after this long. Default 60s.
	IdleNoForward time.Duration `koanf:"idle_no_forward"`

	// Registration says what an SSH key no account holds may do: "off"
	// (default) refuses it with "Permission denied (publickey)"; "invite"
	// lets it authenticate only far enough to run `register CODE` with an
	// operator's invite code, which adds the key to the invited account.
	// "invite" opens a door to strangers: codes are single-use, expire,
	// and wrong ones count as failed logins of their source.
	Registration string `koanf:"registration"`

	// KeyExchanges are the SSH key exchange algorithms offered, in order
	// of preference; the list replaces the default, it does not add to
	// it. Default and allowed names: cryptopolicy.KeyExchanges (no
	// NIST-curve exchange unless listed here, no SHA-1 ever).
	KeyExchanges []string `koanf:"key_exchanges"`

	// Ciphers are the SSH ciphers offered, in order of preference; the
	// list replaces the default. Default and allowed names:
	// cryptopolicy.Ciphers (AES-GCM only unless listed here, no CBC or
	// RC4 ever).
	Ciphers []string `koanf:"ciphers"`

	// MACs are the SSH MAC algorithms offered, in order of preference
	// (used only with AES-CTR; AES-GCM and chacha20-poly1305 carry their
	// own); the list replaces the default. Default and allowed names:
	// cryptopolicy.MACs (encrypt-then-MAC SHA-2 unless listed here, no
	// SHA-1 ever).
	MACs []string `koanf:"macs"`
}

// HTTP configures the public HTTP listener and its proxy.
type HTTP struct {
	// Addr is the host:port of the public HTTP listener. Default
	// "127.0.0.1:8080"; it must not be empty.
	Addr string `koanf:"addr"`

	// PublicPort is the port shown in http:// URLs when the listener sits
	// behind a port mapping. Default 0 means the port of Addr (see
	// Config.HTTPPublicPort); port 80 is omitted from URLs.
	PublicPort int `koanf:"public_port"`

	// ReadHeaderTimeout bounds reading a visitor's request head, from its
	// first byte. Default 10s.
	ReadHeaderTimeout time.Duration `koanf:"read_header_timeout"`

	// MaxHeaderBytes bounds the size of a visitor's request head, in
	// bytes. Default 65536.
	MaxHeaderBytes int `koanf:"max_header_bytes"`

	// IdleTimeout is how long a visitor's connection may sit idle between
	// requests, and on the HTTP port before its first. Default 120s.
	IdleTimeout time.Duration `koanf:"idle_timeout"`

	// BodyIdleTimeout fails a visitor's request whose body stops arriving
	// for this long (slow-body attacks); steady uploads of any length pass.
	// Default 60s.
	BodyIdleTimeout time.Duration `koanf:"body_idle_timeout"`

	// UpstreamIdle is how many idle upstream connections (forwarded
	// channels) are kept per tunnel for reuse. Default 64.
	UpstreamIdle int `koanf:"upstream_idle"`

	// UpstreamIdleTimeout closes an idle upstream connection after this
	// long. Default 60s.
	UpstreamIdleTimeout time.Duration `koanf:"upstream_idle_timeout"`

	// DialTimeout bounds waiting for the user's ssh client to accept a
	// forwarded channel; past it the visitor gets 502. Default 10s.
	DialTimeout time.Duration `koanf:"dial_timeout"`
}

// HTTPS configures the shared TLS port and its certificates. With no
// cert_file and no ACME directory, the edge runs a local CA in the data dir
// and issues its own certificates (trust <data_dir>/ca/root.pem).
type HTTPS struct {
	// Addr is the host:port of the shared TLS port: visitors' https
	// requests for http endpoints (TLS terminated by the edge) and tls
	// endpoints (passed through by SNI). Default "127.0.0.1:8443"; ""
	// disables it (no https URLs, no tls endpoints).
	Addr string `koanf:"addr"`

	// PublicPort is the port shown in https:// URLs when the listener sits
	// behind a port mapping. Default 0 means the port of Addr; port 443 is
	// left out of URLs.
	PublicPort int `koanf:"public_port"`

	// CertFile and KeyFile are a PEM certificate chain and its private key,
	// typically a wildcard for the base domain (*.tunnel.example.com).
	// Names the certificate covers use it; the files are re-read when they
	// change (checked at most once a second). Both or neither. Default "".
	// A relative path is relative to the config file's directory. The key
	// file must be readable by the edge's user only.
	CertFile string `koanf:"cert_file"`
	KeyFile  string `koanf:"key_file"`

	// ACME obtains certificates automatically for reserved custom domains.
	ACME ACME `koanf:"acme"`
}

// ACME configures automatic certificates (RFC 8555, e.g. Let's Encrypt)
// for names an account reserves, issued only while the name is bound to a
// tunnel. Challenges are answered on the TLS port (tls-alpn-01) and the
// HTTP port (http-01) before tunnel routing.
type ACME struct {
	// DirectoryURL is the ACME server's directory, e.g.
	// https://acme-v02.api.letsencrypt.org/directory. Default "" disables
	// ACME.
	DirectoryURL string `koanf:"directory_url"`

	// Email is the contact address registered with the ACME account.
	// Default "" (none).
	Email string `koanf:"email"`

	// CARoot is a PEM file of CA certificates to trust for the ACME
	// server's own https (a test server such as Pebble). Default "" uses
	// the system roots.
	CARoot string `koanf:"ca_root"`

	// OrdersPerHour bounds new certificate orders across all names, to
	// stay under the ACME server's rate limits. Default 20.
	OrdersPerHour int `koanf:"orders_per_hour"`
}

// Limits bounds resources per connection and per account.
type Limits struct {
	// ForwardsPerConn is the most port forwards one SSH connection may
	// request. Default 10.
	ForwardsPerConn int `koanf:"forwards_per_conn"`

	// TunnelsPerAccount is the most tunnels one account may hold open
	// across all its connections. Default 20.
	TunnelsPerAccount int `koanf:"tunnels_per_account"`

	// MaxExecBytes is the longest exec command string accepted, in bytes.
	// Default 4096.
	MaxExecBytes int `koanf:"max_exec_bytes"`

	// ShutdownGrace is how long a graceful shutdown lets open connections
	// drain before closing them. Default 10s.
	ShutdownGrace time.Duration `koanf:"shutdown_grace"`

	// UnauthPerSource caps SSH connections from one source address that
	// have not finished authenticating; more are closed at once.
	// Default 20.
	UnauthPerSource int `koanf:"unauth_per_source"`

	// UnauthTotal caps unauthenticated SSH connections overall. Default 512.
	UnauthTotal int `koanf:"unauth_total"`

	// FailuresBeforePenalty is how many failed handshakes or logins from
	// one source within PenaltyWindow make the edge refuse that source for
	// a while (the penalty doubles each time, up to an hour). Default 20.
	FailuresBeforePenalty int `koanf:"failures_before_penalty"`

	// PenaltyWindow is the window failures are counted in, and the first
	// penalty's length. Default 1m.
	PenaltyWindow time.Duration `koanf:"penalty_window"`

	// ChannelsPerConn caps forwarded connections open at once through one
	// SSH connection; beyond it visitors get 503 with Retry-After.
	// Default 512.
	ChannelsPerConn int `koanf:"channels_per_conn"`

	// ChannelsTotal caps forwarded connections open at once on the edge.
	// Default 16384.
	ChannelsTotal int `koanf:"channels_total"`

	// VisitorConnsPerIP caps a visitor address's open connections to each
	// of the HTTP and HTTPS ports; more are closed at once. Default 256.
	VisitorConnsPerIP int `koanf:"visitor_conns_per_ip"`

	// VisitorConnsTotal caps visitor connections to each of the HTTP and
	// HTTPS ports overall. Default 20000.
	VisitorConnsTotal int `koanf:"visitor_conns_total"`

	// InspectorBytes caps the memory, in bytes, all tunnels' inspectors
	// keep together (requests and responses of http tunnels opened with
	// --inspect, the default); the oldest exchanges go first. 0 turns the
	// inspector off on this edge. Default inspect.DefaultEdgeBytes
	// (256 MiB). Each tunnel keeps at most inspect.DefaultTunnelBytes.
	InspectorBytes int64 `koanf:"inspector_bytes"`
}

// Metrics configures the edge's Prometheus metrics.
type Metrics struct {
	// Enabled counts and serves the metrics. Default true. False records
	// nothing (the hot paths hold no counters at all) and /metrics answers
	// 404 with a sentence saying so; a change needs a restart.
	Enabled bool `koanf:"enabled"`
}

// Account is one user allowed to open tunnels.
type Account struct {
	// Name identifies the account in logs and banners; required, unique,
	// at most 64 characters of letters, digits and . _ @ -.
	Name string `koanf:"name"`

	// Keys are authorized_keys lines; a client proving any of these keys
	// logs in as this account.
	Keys []string `koanf:"keys"`

	// KeysFile is the path of an authorized_keys file with more keys. A
	// relative path is relative to the config file's directory; Load
	// makes it absolute but does not read it. An account needs Keys or
	// KeysFile.
	KeysFile string `koanf:"keys_file"`

	// Domains are names reserved for this account: full names
	// (app.example.org, *.example.org) or bare labels under the base
	// domain (app). Load lowercases them and strips a trailing dot; a name
	// may be reserved by one account only.
	Domains []string `koanf:"domains"`

	// TCPAddresses are public TCP addresses ("host:port") reserved for
	// this account; an address may be reserved by one account only.
	TCPAddresses []string `koanf:"tcp_addresses"`
}

// Admin configures the management API listener.
type Admin struct {
	// Addr is the host:port of the management API. Default
	// "127.0.0.1:2280" (loopback only); "" disables it. A non-loopback
	// address needs CertFile and KeyFile: the start-up fails otherwise.
	Addr string `koanf:"addr"`

	// TokenFile holds the operator's bearer token. Default "" means
	// <data_dir>/admin_token (see Config.AdminTokenPath), generated on
	// first start with mode 0600. It grants everything: keep it private.
	TokenFile string `koanf:"token_file"`

	// CertFile and KeyFile are a PEM certificate chain and key for the
	// API over TLS. Both or neither. Default "" (plain HTTP on loopback).
	CertFile string `koanf:"cert_file"`
	KeyFile  string `koanf:"key_file"`
}

// AdminTokenPath returns Admin.TokenFile when set, otherwise
// <data_dir>/admin_token.
func (c *Config) AdminTokenPath() string {
	if c.Admin.TokenFile != "" {
		return c.Admin.TokenFile
	}
	return filepath.Join(c.DataDir, "admin_token")
}

// Plugin configures one plugin.
type Plugin struct {
	// Enabled turns the plugin on or off. Unset (nil) means: on for a
	// third-party plugin (Path set), off for a bundled one. See IsEnabled.
	Enabled *bool `koanf:"enabled"`

	// Path is the executable of a third-party plugin. Default "" means
	// the bundled plugin of this name. A relative path in the config file
	// is relative to the file's directory. The edge runs this file with
	// its own privileges: it must not be writable by others.
	Path string `koanf:"path"`

	// SHA256 is the hex SHA-256 checksum of Path's file, required when
	// Path is set; the plugin is not started if the file does not match.
	SHA256 string `koanf:"sha256"`

	// Config is the plugin's own section, passed to it verbatim. It may
	// hold secrets: it is never logged by the core.
	Config map[string]any `koanf:"config"`
}

// IsEnabled reports whether the plugin should run: *Enabled when set,
// otherwise true for a third-party plugin (a Path named in the config is
// meant to run) and false for a bundled one.
func (p Plugin) IsEnabled() bool {
	if p.Enabled != nil {
		return *p.Enabled
	}
	return p.Path != ""
}

// SSHOnLoopback reports whether the SSH server listens on a loopback
// address only (host "localhost" or a loopback IP), so no other machine
// can reach it.
func (c *Config) SSHOnLoopback() bool {
	host, _, err := net.SplitHostPort(c.SSH.Addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// HostKeyPath returns the SSH host key file to use: SSH.HostKeyFile when
// set, otherwise <data_dir>/ssh_host_ed25519_key, which the caller
// generates when it does not exist yet.
func (c *Config) HostKeyPath() string {
	if c.SSH.HostKeyFile != "" {
		return c.SSH.HostKeyFile
	}
	return filepath.Join(c.DataDir, defaultHostKeyName)
}

// HTTPPublicPort returns the port to show in http:// URLs: HTTP.PublicPort
// when set, otherwise the port of HTTP.Addr (0 when that port is 0 and
// only the bound listener knows the real one).
func (c *Config) HTTPPublicPort() int { return publicPort(c.HTTP.PublicPort, c.HTTP.Addr) }

// HTTPSPublicPort returns the port to show in https:// URLs:
// HTTPS.PublicPort when set, otherwise the port of HTTPS.Addr (0 when
// that port is 0 or HTTPS is disabled).
func (c *Config) HTTPSPublicPort() int { return publicPort(c.HTTPS.PublicPort, c.HTTPS.Addr) }

// publicPort is explicit when set, otherwise the port of addr (0 when it
// has none).
func publicPort(explicit int, addr string) int {
	if explicit != 0 {
		return explicit
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		return 0
	}
	return n
}

// defaultHostKeyName is the host key's file name inside DataDir.
const defaultHostKeyName = "ssh_host_ed25519_key"
