package config

import (
	"strings"
	"testing"
)

func TestLoadErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		environ []string
		want    string
	}{
		{"unknown top-level key", "domian: x\n", nil, `unknown key "domian"`},
		{"unknown nested key", "ssh:\n  adr: x\n", nil, `unknown key "ssh.adr"`},
		{"unknown plugin field", "plugins:\n  basicauth:\n    enable: true\n", nil, `unknown key "plugins.basicauth.enable"`},
		{"unknown account field", "accounts:\n  - name: ann\n    key: x\n", nil, `unknown key "key" in accounts[0]`},
		{"account not a mapping", "accounts:\n  - ann\n", nil, "accounts[0]: want a mapping"},
		{"section not a mapping", "ssh: 5\n", nil, "config: ssh:"},
		{"unknown env var", "", []string{"SSHGRESS_SSH_ADR=x"}, "config: SSHGRESS_SSH_ADR: no such setting"},
		{"env var naming a section", "", []string{"SSHGRESS_SSH=x"}, "config: SSHGRESS_SSH: no such setting"},
		{"unknown plugin env field", "", []string{"SSHGRESS_PLUGINS_BASICAUTH_ENABLE=true"}, "SSHGRESS_PLUGINS_BASICAUTH_ENABLE: no such setting"},
		{"accounts from env", "", []string{"SSHGRESS_ACCOUNTS=ann"}, "SSHGRESS_ACCOUNTS: accounts can be set only in the config file"},
		{"bad env bool", "", []string{"SSHGRESS_PLUGINS_BASICAUTH_ENABLED=yes please"}, "config: plugins.basicauth.enabled: cannot parse"},
		{"bad env int", "", []string{"SSHGRESS_SSH_KEEPALIVE_COUNT=three"}, "config: ssh.keepalive_count:"},
		{"ssh.addr missing port", "ssh:\n  addr: x\n", nil, `config: ssh.addr: "x": missing port in address`},
		{"ssh.addr bad port", "ssh:\n  addr: ':http'\n", nil, `config: ssh.addr: ":http": port "http" is not a number from 0 to 65535`},
		{"ssh.addr port too big", "ssh:\n  addr: ':65536'\n", nil, "config: ssh.addr:"},
		{"http.addr empty", "http:\n  addr: ''\n", nil, "config: http.addr: must not be empty"},
		{"http.addr bad", "http:\n  addr: '1.2.3.4'\n", nil, "config: http.addr:"},
		{"http.public_port", "http:\n  public_port: 70000\n", nil, "config: http.public_port: 70000"},
		{"domain empty", "domain: ''\n", nil, "config: domain: must not be empty"},
		{"domain underscore", "domain: a_b.example\n", nil, `config: domain: name "a_b.example" contains '_', which is not allowed`},
		{"domain empty label", "domain: a..b\n", nil, `config: domain: name "a..b" has an empty label`},
		{"domain hyphen", "domain: -a.example\n", nil, "config: domain:"},
		{"domain too long", "domain: " + strings.Repeat("a.", 127) + "ab\n", nil, "is too long (256 characters; the limit is 253)"},
		{"domain long label", "domain: " + strings.Repeat("a", 64) + ".example\n", nil, "label longer than 63"},
		{"domain wildcard", "domain: '*.example.com'\n", nil, "config: domain:"},
		{"domain with port", "domain: 'example.com:8080'\n", nil, `config: domain: "example.com:8080": want a DNS name without a port`},
		{"domain ends in number", "domain: example.123\n", nil, `config: domain: name "example.123" is an IP address`},
		{"account domain ends in number", "accounts:\n  - name: ann\n    keys_file: k\n    domains: ['*.app.1']\n", nil, `config: accounts[0].domains[0]: name "app.1" is an IP address`},
		{"public_host", "ssh:\n  public_host: 'a b'\n", nil, "config: ssh.public_host:"},
		{"data_dir empty", "data_dir: ''\n", nil, "config: data_dir: must not be empty"},
		{"log level", "log:\n  level: loud\n", nil, `config: log.level: "loud": want one of`},
		{"log format", "log:\n  format: xml\n", nil, `config: log.format: "xml"`},
		{"log access empty", "log:\n  access: ''\n", nil, "config: log.access: must not be empty: use stderr, off or a file path"},
		{"log access stdout", "log:\n  access: stdout\n", nil, `config: log.access: "stdout": use stderr, off or a file path`},
		{"proxy_protocol trusted not a cidr", "proxy_protocol:\n  trusted: [10.0.0.0/8, lb.example.com]\n", nil, `config: proxy_protocol.trusted[1]: "lb.example.com": want a CIDR`},
		{"proxy_protocol trusted bad mask", "proxy_protocol:\n  trusted: [10.0.0.0/33]\n", nil, `config: proxy_protocol.trusted[0]: "10.0.0.0/33"`},
		{"ssh registration", "ssh:\n  registration: open\n", nil, `config: ssh.registration: "open": want one of off, invite`},
		{"cipher not allowed", "ssh:\n  ciphers: [aes128-cbc]\n", nil, `config: ssh.ciphers: "aes128-cbc" is not allowed`},
		{"ciphers empty", "ssh:\n  ciphers: []\n", nil, "config: ssh.ciphers: must list at least one"},
		{"ciphers empty env", "", []string{"SSHGRESS_SSH_CIPHERS= , "}, "config: ssh.ciphers: must list at least one"},
		{"cipher twice", "ssh:\n  ciphers: [aes128-ctr, aes128-ctr]\n", nil, `config: ssh.ciphers: "aes128-ctr" is listed twice`},
		{"sha1 key exchange", "ssh:\n  key_exchanges: [diffie-hellman-group14-sha1]\n", nil, `config: ssh.key_exchanges: "diffie-hellman-group14-sha1" is not allowed (choose from mlkem768x25519-sha256, `},
		{"key exchanges empty", "ssh:\n  key_exchanges: []\n", nil, "config: ssh.key_exchanges: must list at least one key exchange algorithm"},
		{"sha1 mac", "ssh:\n  macs: [hmac-sha2-256, hmac-sha1]\n", nil, `config: ssh.macs: "hmac-sha1" is not allowed`},
		{"macs empty env", "", []string{"SSHGRESS_SSH_MACS=,"}, "config: ssh.macs: must list at least one MAC algorithm"},
		{"keepalive_count", "ssh:\n  keepalive_count: 0\n", nil, "config: ssh.keepalive_count: 0: must be at least 1"},
		{"max_header_bytes", "http:\n  max_header_bytes: -1\n", nil, "config: http.max_header_bytes:"},
		{"upstream_idle", "http:\n  upstream_idle: 0\n", nil, "config: http.upstream_idle:"},
		{"forwards_per_conn", "limits:\n  forwards_per_conn: 0\n", nil, "config: limits.forwards_per_conn:"},
		{"tunnels_per_account", "limits:\n  tunnels_per_account: 0\n", nil, "config: limits.tunnels_per_account:"},
		{"max_exec_bytes", "limits:\n  max_exec_bytes: 0\n", nil, "config: limits.max_exec_bytes:"},
		{"shutdown_grace", "limits:\n  shutdown_grace: 0s\n", nil, "config: limits.shutdown_grace:"},
		{"exec_wait", "ssh:\n  exec_wait: 0s\n", nil, "config: ssh.exec_wait:"},
		{"command_wait", "ssh:\n  command_wait: 0s\n", nil, "config: ssh.command_wait:"},
		{"idle_no_forward", "ssh:\n  idle_no_forward: 0s\n", nil, "config: ssh.idle_no_forward:"},
		{"keepalive_interval", "ssh:\n  keepalive_interval: 0s\n", nil, "config: ssh.keepalive_interval:"},
		{"dial_timeout", "http:\n  dial_timeout: 0s\n", nil, "config: http.dial_timeout:"},
		{"https addr", "https:\n  addr: nope\n", nil, "config: https.addr:"},
		{"https addr is http addr", "http:\n  addr: 127.0.0.1:9000\nhttps:\n  addr: 127.0.0.1:9000\n", nil, "config: https.addr: 127.0.0.1:9000 is also http.addr"},
		{"https cert without key", "https:\n  cert_file: c.pem\n", nil, "config: https.cert_file: cert_file and key_file go together"},
		{"acme url", "https:\n  acme:\n    directory_url: ftp://x\n", nil, "config: https.acme.directory_url:"},
		{"acme email", "https:\n  acme:\n    email: nobody\n", nil, "config: https.acme.email:"},
		{"acme orders", "", []string{"SSHGRESS_HTTPS_ACME_ORDERS_PER_HOUR=0"}, "config: https.acme.orders_per_hour:"},
		{"idle_timeout", "http:\n  idle_timeout: 0s\n", nil, "config: http.idle_timeout:"},
		{"upstream_idle_timeout", "http:\n  upstream_idle_timeout: 0s\n", nil, "config: http.upstream_idle_timeout:"},
		{"read_header_timeout env", "", []string{"SSHGRESS_HTTP_READ_HEADER_TIMEOUT=10"}, `config: http.read_header_timeout: "10": want a duration`},
		{"account name empty", "accounts:\n  - keys: ['" + testKey + "']\n", nil, "config: accounts[0].name: must not be empty"},
		{"account name bad", "accounts:\n  - name: 'a b'\n    keys: ['" + testKey + "']\n", nil, `config: accounts[0].name: "a b"`},
		{"account name duplicate", "accounts:\n  - name: ann\n    keys: ['" + testKey + "']\n  - name: ann\n    keys: ['" + testKey + "']\n", nil, `config: accounts[1].name: "ann" is already the name of accounts[0]`},
		{"account without keys", "accounts:\n  - name: ann\n", nil, "config: accounts[0]: needs keys or keys_file"},
		{"account bad key", "accounts:\n  - name: ann\n    keys: ['ssh-ed25519 nope']\n", nil, "config: accounts[0].keys[0]: not an authorized_keys line"},
		{"account bad domain", "accounts:\n  - name: ann\n    keys_file: k\n    domains: ['a..b']\n", nil, "config: accounts[0].domains[0]:"},
		{"account domain twice", "accounts:\n  - name: ann\n    keys_file: k\n    domains: [app]\n  - name: bob\n    keys_file: k\n    domains: [App.localhost.]\n", nil, `config: accounts[1].domains[0]: "app.localhost" is already reserved by accounts[0]`},
		{"account tcp no port", "accounts:\n  - name: ann\n    keys_file: k\n    tcp_addresses: [example.com]\n", nil, "config: accounts[0].tcp_addresses[0]:"},
		{"account tcp port 0", "accounts:\n  - name: ann\n    keys_file: k\n    tcp_addresses: ['example.com:0']\n", nil, "port 0 cannot be reserved"},
		{"account tcp no host", "accounts:\n  - name: ann\n    keys_file: k\n    tcp_addresses: [':2000']\n", nil, "config: accounts[0].tcp_addresses[0]:"},
		{"account tcp twice", "accounts:\n  - name: ann\n    keys_file: k\n    tcp_addresses: ['a.example:2000']\n  - name: bob\n    keys_file: k\n    tcp_addresses: ['A.example:2000']\n", nil, `config: accounts[1].tcp_addresses[0]: "a.example:2000" is already reserved`},
		{"plugin name", "plugins:\n  Basic_Auth:\n    enabled: true\n", nil, `config: plugins.Basic_Auth: "Basic_Auth": a plugin name`},
		{"plugin sha256 missing", "plugins:\n  geo:\n    path: /opt/geo\n", nil, "config: plugins.geo.sha256: required for a third-party plugin"},
		{"plugin sha256 bad", "plugins:\n  geo:\n    path: /opt/geo\n    sha256: abc\n", nil, "config: plugins.geo.sha256: want 64 hex digits"},
		{"plugin sha256 without path", "plugins:\n  geo:\n    sha256: '" + strings.Repeat("a", 64) + "'\n", nil, "config: plugins.geo.sha256: applies only to a third-party plugin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var args []string
			if tt.yaml != "" {
				args = []string{"--config", writeConfig(t, tt.yaml)}
			}
			_, err := Load(flags(t, args...), tt.environ)
			if err == nil {
				t.Fatalf("Load succeeded, want an error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	file := writeConfig(t, "ssh:\n  addr: x\nhttp:\n  addr: y\n")
	_, err := Load(flags(t, "--config", file), nil)
	if err == nil {
		t.Fatal("Load succeeded, want errors")
	}
	for _, key := range []string{"ssh.addr", "http.addr"} {
		if !strings.Contains(err.Error(), "config: "+key+":") {
			t.Errorf("Load error = %q, want it to name %s", err, key)
		}
	}
}

func TestLoadNormalises(t *testing.T) {
	file := writeConfig(t, `
domain: Tunnel.Example.COM.
log: {level: DEBUG, format: JSON}
ssh: {public_host: "::1"}
accounts:
  - name: ann
    keys: ['`+testKey+`']
    domains: [App.Example.org., "*.Ann.Example.org", Demo]
    tcp_addresses: ["Tunnel.Example.com:20002"]
`)
	c, err := Load(flags(t, "--config", file), nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	got := []string{c.Domain, c.Log.Level, c.Log.Format, c.SSH.PublicHost}
	got = append(got, c.Accounts[0].Domains...)
	got = append(got, c.Accounts[0].TCPAddresses...)
	want := []string{"tunnel.example.com", "debug", "json", "::1", "app.example.org", "*.ann.example.org", "demo", "tunnel.example.com:20002"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("normalised = %q, want %q", got, want)
	}
}

// TestLoadNormalisesIDNA: config names go through the routing normaliser,
// so an internationalised name is stored in the xn-- form routing uses.
func TestLoadNormalisesIDNA(t *testing.T) {
	file := writeConfig(t, `
domain: Bücher.Example.
accounts:
  - name: ann
    keys: ['`+testKey+`']
    domains: ["*.Straße.example"]
`)
	c, err := Load(flags(t, "--config", file), nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got, want := c.Domain+" "+c.Accounts[0].Domains[0], "xn--bcher-kva.example *.xn--strae-oqa.example"; got != want {
		t.Errorf("normalised = %q, want %q", got, want)
	}
}

func TestPluginIsEnabled(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name string
		p    Plugin
		want bool
	}{
		{"bundled, unset", Plugin{}, false},
		{"bundled, enabled", Plugin{Enabled: &yes}, true},
		{"third-party, unset", Plugin{Path: "/opt/p"}, true},
		{"third-party, disabled", Plugin{Path: "/opt/p", Enabled: &no}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.IsEnabled(); got != tt.want {
				t.Errorf("IsEnabled() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSSHOnLoopback(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		{"127.0.0.1:2222", true},
		{"127.9.9.9:2222", true},
		{"[::1]:2222", true},
		{"LocalHost:22", true},
		{":2222", false},
		{"0.0.0.0:2222", false},
		{"[::]:2222", false},
		{"192.0.2.1:22", false},
		{"example.com:22", false},
		{"garbage", false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			c := &Config{SSH: SSH{Addr: tt.addr}}
			if got := c.SSHOnLoopback(); got != tt.want {
				t.Errorf("SSHOnLoopback(%q) = %v, want %v", tt.addr, got, tt.want)
			}
		})
	}
}

func TestHostKeyPath(t *testing.T) {
	tests := []struct {
		name string
		c    Config
		want string
	}{
		{"default", Config{DataDir: "/var/lib/sshgress"}, "/var/lib/sshgress/ssh_host_ed25519_key"},
		{"explicit", Config{DataDir: "/d", SSH: SSH{HostKeyFile: "/etc/k"}}, "/etc/k"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.HostKeyPath(); got != tt.want {
				t.Errorf("HostKeyPath() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestHTTPPublicPort(t *testing.T) {
	tests := []struct {
		addr string
		port int
		want int
	}{
		{"127.0.0.1:8080", 0, 8080},
		{":80", 0, 80},
		{":80", 443, 443},
		{"127.0.0.1:0", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			c := &Config{HTTP: HTTP{Addr: tt.addr, PublicPort: tt.port}}
			if got := c.HTTPPublicPort(); got != tt.want {
				t.Errorf("HTTPPublicPort() = %d, want %d", got, tt.want)
			}
		})
	}
}
