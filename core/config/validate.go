package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sshgress/sshgress/core/httpedge"
	"github.com/sshgress/sshgress/core/metrics"
	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"

	"github.com/sshgress/sshgress/core/cryptopolicy"
	"github.com/sshgress/sshgress/core/route/dnsname"
	"github.com/sshgress/sshgress/sdk"
)

// Name formats accepted for accounts and plugins.
var (
	accountNameRE = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)
	sha256RE      = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// normaliseAndValidate checks every key once, normalising names in place,
// and returns all problems found, each naming its key.
func (c *Config) normaliseAndValidate() error {
	v := &validator{}

	if d, err := normaliseDNSName(c.Domain, false); err != nil {
		v.add("domain", err)
	} else {
		c.Domain = d
	}
	if c.DataDir == "" {
		v.add("data_dir", errors.New("must not be empty"))
	}

	c.Log.Level = strings.ToLower(c.Log.Level)
	v.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	c.Log.Format = strings.ToLower(c.Log.Format)
	v.oneOf("log.format", c.Log.Format, "text", "json")
	c.validateAccessLog(v)

	v.addr("ssh.addr", c.SSH.Addr)
	if c.SSH.PublicHost == "" {
		c.SSH.PublicHost = c.Domain
	} else if h, err := normalisePublicHost(c.SSH.PublicHost); err != nil {
		v.add("ssh.public_host", err)
	} else {
		c.SSH.PublicHost = h
	}
	v.positive("ssh.handshake_timeout", c.SSH.HandshakeTimeout)
	v.positive("ssh.keepalive_interval", c.SSH.KeepaliveInterval)
	v.atLeastOne("ssh.keepalive_count", c.SSH.KeepaliveCount)
	v.positive("ssh.command_wait", c.SSH.CommandWait)
	v.positive("ssh.exec_wait", c.SSH.ExecWait)
	v.positive("ssh.idle_no_forward", c.SSH.IdleNoForward)
	c.SSH.Registration = strings.ToLower(c.SSH.Registration)
	v.oneOf("ssh.registration", c.SSH.Registration, RegistrationOff, RegistrationInvite)
	v.each("ssh.key_exchanges", cryptopolicy.KeyExchanges.Check(c.SSH.KeyExchanges))
	v.each("ssh.ciphers", cryptopolicy.Ciphers.Check(c.SSH.Ciphers))
	v.each("ssh.macs", cryptopolicy.MACs.Check(c.SSH.MACs))

	if c.HTTP.Addr == "" {
		v.add("http.addr", errors.New("must not be empty: the edge needs an HTTP listener"))
	} else {
		v.addr("http.addr", c.HTTP.Addr)
	}
	if c.HTTP.PublicPort < 0 || c.HTTP.PublicPort > 65535 {
		v.add("http.public_port", fmt.Errorf("%d: want a port from 0 to 65535", c.HTTP.PublicPort))
	}
	v.positive("http.read_header_timeout", c.HTTP.ReadHeaderTimeout)
	v.atLeastOne("http.max_header_bytes", c.HTTP.MaxHeaderBytes)
	v.positive("http.idle_timeout", c.HTTP.IdleTimeout)
	v.positive("http.body_idle_timeout", c.HTTP.BodyIdleTimeout)
	if n := c.HTTP.MiddlewareBodyLimit; n < 1<<10 || n > httpedge.MaxMiddlewareBodyLimit {
		v.add("http.middleware_body_limit", fmt.Errorf("%d: must be 1024 (1 KiB) to %d bytes", n, httpedge.MaxMiddlewareBodyLimit))
	}
	v.atLeastOne("http.upstream_idle", c.HTTP.UpstreamIdle)
	v.positive("http.upstream_idle_timeout", c.HTTP.UpstreamIdleTimeout)
	v.positive("http.dial_timeout", c.HTTP.DialTimeout)

	c.validateHTTPS(v)

	v.atLeastOne("limits.forwards_per_conn", c.Limits.ForwardsPerConn)
	v.atLeastOne("limits.tunnels_per_account", c.Limits.TunnelsPerAccount)
	v.atLeastOne("limits.max_exec_bytes", c.Limits.MaxExecBytes)
	v.positive("limits.shutdown_grace", c.Limits.ShutdownGrace)
	v.atLeastOne("limits.unauth_per_source", c.Limits.UnauthPerSource)
	v.atLeastOne("limits.unauth_total", c.Limits.UnauthTotal)
	v.atLeastOne("limits.failures_before_penalty", c.Limits.FailuresBeforePenalty)
	v.positive("limits.penalty_window", c.Limits.PenaltyWindow)
	v.atLeastOne("limits.channels_per_conn", c.Limits.ChannelsPerConn)
	v.atLeastOne("limits.channels_total", c.Limits.ChannelsTotal)
	v.atLeastOne("limits.visitor_conns_per_ip", c.Limits.VisitorConnsPerIP)
	v.atLeastOne("limits.visitor_conns_total", c.Limits.VisitorConnsTotal)
	if c.Limits.InspectorBytes < 0 {
		v.add("limits.inspector_bytes", fmt.Errorf("%d: must be 0 (inspector off) or more", c.Limits.InspectorBytes))
	}

	if n := c.Metrics.PerTunnel; n < 0 || n > metrics.MaxPerTunnel {
		v.add("metrics.per_tunnel", fmt.Errorf("%d: must be 0 (no per-tunnel series) to %d", n, metrics.MaxPerTunnel))
	}

	c.validateAdmin(v)
	c.validateAccounts(v)
	c.validatePlugins(v)
	c.validateDashboard(v)
	c.validateProxyProtocol(v)
	c.validateEvents(v)
	return v.err()
}

// validateHTTPS checks the TLS port and certificate settings.
func (c *Config) validateHTTPS(v *validator) {
	h := &c.HTTPS
	if h.Addr != "" {
		v.addr("https.addr", h.Addr)
		if _, port, err := net.SplitHostPort(h.Addr); h.Addr == c.HTTP.Addr && err == nil && port != "0" {
			v.add("https.addr", fmt.Errorf("%s is also http.addr: use another port", h.Addr))
		}
	}
	if h.PublicPort < 0 || h.PublicPort > 65535 {
		v.add("https.public_port", fmt.Errorf("%d: want a port from 0 to 65535", h.PublicPort))
	}
	if (h.CertFile == "") != (h.KeyFile == "") {
		v.add("https.cert_file", errors.New("cert_file and key_file go together: set both or neither"))
	}
	if u := h.ACME.DirectoryURL; u != "" {
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
			v.add("https.acme.directory_url", fmt.Errorf("%q: want an https:// URL such as https://acme-v02.api.letsencrypt.org/directory", u))
		}
	}
	if e := h.ACME.Email; e != "" && (!strings.Contains(e, "@") || strings.ContainsAny(e, " \t\r\n<>")) {
		v.add("https.acme.email", fmt.Errorf("%q: want an email address", e))
	}
	v.atLeastOne("https.acme.orders_per_hour", h.ACME.OrdersPerHour)
}

// validateAdmin checks the management API listener settings; whether a
// non-loopback address has TLS is checked when it starts (core/admin.Listen).
func (c *Config) validateAdmin(v *validator) {
	if c.Admin.Addr != "" {
		v.addr("admin.addr", c.Admin.Addr)
	}
	if (c.Admin.CertFile == "") != (c.Admin.KeyFile == "") {
		v.add("admin.cert_file", errors.New("cert_file and key_file go together: set both or neither"))
	}
}

// validateAccounts checks names, keys and reservations, including that no
// name or address is reserved twice.
func (c *Config) validateAccounts(v *validator) {
	names := make(map[string]int)
	domains := make(map[string]int)
	addrs := make(map[string]int)
	for i := range c.Accounts {
		a := &c.Accounts[i]
		key := fmt.Sprintf("accounts[%d]", i)
		switch {
		case a.Name == "":
			v.add(key+".name", errors.New("must not be empty"))
		case !accountNameRE.MatchString(a.Name):
			v.add(key+".name", fmt.Errorf("%q: want 1 to 64 letters, digits or . _ @ -", a.Name))
		default:
			if j, dup := names[a.Name]; dup {
				v.add(key+".name", fmt.Errorf("%q is already the name of accounts[%d]", a.Name, j))
			}
			names[a.Name] = i
		}
		if len(a.Keys) == 0 && a.KeysFile == "" {
			v.add(key, errors.New("needs keys or keys_file: an account without keys cannot log in"))
		}
		for j, line := range a.Keys {
			if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line)); err != nil {
				v.add(fmt.Sprintf("%s.keys[%d]", key, j), fmt.Errorf("not an authorized_keys line: %w", err))
			}
		}
		for j, d := range a.Domains {
			k := fmt.Sprintf("%s.domains[%d]", key, j)
			n, err := normaliseDNSName(d, true)
			if err != nil {
				v.add(k, err)
				continue
			}
			a.Domains[j] = n
			full := n
			if !strings.Contains(n, ".") {
				full = n + "." + c.Domain
			}
			if owner, dup := domains[full]; dup {
				v.add(k, fmt.Errorf("%q is already reserved by accounts[%d]", n, owner))
			}
			domains[full] = i
		}
		for j, addr := range a.TCPAddresses {
			k := fmt.Sprintf("%s.tcp_addresses[%d]", key, j)
			host, port, err := splitAddr(addr)
			if err == nil && port == 0 {
				err = fmt.Errorf("%q: port 0 cannot be reserved", addr)
			}
			if err == nil && host == "" {
				err = fmt.Errorf("%q: want host:port", addr)
			}
			if err != nil {
				v.add(k, err)
				continue
			}
			norm := net.JoinHostPort(strings.TrimSuffix(strings.ToLower(host), "."), strconv.Itoa(port))
			a.TCPAddresses[j] = norm
			if owner, dup := addrs[norm]; dup {
				v.add(k, fmt.Errorf("%q is already reserved by accounts[%d]", norm, owner))
			}
			addrs[norm] = i
		}
	}
}

// validatePlugins checks plugin names and third-party settings.
func (c *Config) validatePlugins(v *validator) {
	for _, name := range slices.Sorted(maps.Keys(c.Plugins)) {
		p := c.Plugins[name]
		key := keyPlugins + "." + name
		if err := sdk.ValidPluginName(name); err != nil {
			v.add(key, err)
			continue
		}
		p.SHA256 = strings.ToLower(p.SHA256)
		switch {
		case p.Path == "" && p.SHA256 != "":
			v.add(key+".sha256", errors.New("applies only to a third-party plugin: set path too"))
		case p.Path != "" && p.SHA256 == "":
			v.add(key+".sha256", errors.New("required for a third-party plugin: the hex SHA-256 of the file at path (sha256sum)"))
		case p.Path != "" && !sha256RE.MatchString(p.SHA256):
			v.add(key+".sha256", errors.New("want 64 hex digits, quoted in YAML"))
		}
		c.Plugins[name] = p
	}
}

// splitAddr parses "host:port" with a numeric port from 0 to 65535.
func splitAddr(addr string) (string, int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return "", 0, fmt.Errorf("%q: %s", addr, ae.Err)
		}
		return "", 0, fmt.Errorf("%q: %w", addr, err)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("%q: port %q is not a number from 0 to 65535", addr, port)
	}
	return host, int(n), nil
}

// normaliseDNSName puts name through dnsname.Normalize, the one
// normaliser routing and reservations use (lowercase, one trailing dot
// stripped, IDNA to the xn-- form, labels and length checked), so config
// accepts exactly the names the edge can route. A port is refused rather
// than stripped. With wildcard, a leading "*." is allowed.
func normaliseDNSName(name string, wildcard bool) (string, error) {
	if name == "" {
		return "", errors.New("must not be empty")
	}
	if strings.ContainsAny(name, ":[]") {
		return "", fmt.Errorf("%s: want a DNS name without a port", dnsname.Quote(name))
	}
	prefix, rest := "", name
	if wildcard && strings.HasPrefix(name, "*.") {
		prefix, rest = "*.", name[2:]
	}
	n, err := dnsname.Normalize(rest)
	if err != nil {
		return "", err
	}
	return prefix + n, nil
}

// normalisePublicHost accepts an IP address or a DNS name.
func normalisePublicHost(h string) (string, error) {
	if ip := net.ParseIP(h); ip != nil {
		return ip.String(), nil
	}
	return normaliseDNSName(h, false)
}

// validator collects problems, each prefixed with its key.
type validator struct{ errs []error }

func (v *validator) add(key string, err error) {
	v.errs = append(v.errs, fmt.Errorf("config: %s: %w", key, err))
}

// each adds every error err joins (errors.Join), each under key; nil adds
// nothing.
func (v *validator) each(key string, err error) {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range joined.Unwrap() {
			v.add(key, e)
		}
	} else if err != nil {
		v.add(key, err)
	}
}

func (v *validator) err() error { return errors.Join(v.errs...) }

func (v *validator) addr(key, addr string) {
	if _, _, err := splitAddr(addr); err != nil {
		v.add(key, err)
	}
}

func (v *validator) positive(key string, d time.Duration) {
	if d <= 0 {
		v.add(key, fmt.Errorf("%s: must be positive", d))
	}
}

func (v *validator) atLeastOne(key string, n int) {
	if n < 1 {
		v.add(key, fmt.Errorf("%d: must be at least 1", n))
	}
}

func (v *validator) oneOf(key, val string, allowed ...string) {
	if !slices.Contains(allowed, val) {
		v.add(key, fmt.Errorf("%q: want one of %s", val, strings.Join(allowed, ", ")))
	}
}
