package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// writeConfig writes body to a config file in a fresh directory.
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sshgress.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// flags returns a flag set with RegisterFlags' flags, parsed from args.
func flags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

const testKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMihGg4imVtP+ifrl5K3eceYteOuXM7MQaPN02/x01/K ann@laptop"

func TestLoadDefaults(t *testing.T) {
	want := defaults(lookupIn([]string{"HOME=/home/ann"}))
	want.SSH.PublicHost = "localhost"
	tests := []struct {
		name string
		fs   *pflag.FlagSet
	}{
		{"nil flag set", nil},
		{"flags registered, none set", flags(t)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Load(tt.fs, []string{"HOME=/home/ann", "PATH=/bin"})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Load() = %+v\nwant %+v", got, want)
			}
			if got.DataDir != "/home/ann/.local/state/sshgress" {
				t.Errorf("DataDir = %q, want /home/ann/.local/state/sshgress", got.DataDir)
			}
			if !got.SSHOnLoopback() {
				t.Errorf("SSHOnLoopback() = false, want true for the defaults")
			}
		})
	}
}

func TestDefaultsFreshCopy(t *testing.T) {
	a := Defaults()
	a.SSH.Ciphers[0] = "changed"
	if b := Defaults(); b.SSH.Ciphers[0] == "changed" {
		t.Errorf("Defaults() shares its Ciphers slice between calls")
	}
}

func TestDefaultDataDir(t *testing.T) {
	tests := []struct {
		name    string
		environ []string
		want    string
	}{
		{"xdg", []string{"XDG_STATE_HOME=/xdg", "HOME=/home/ann"}, "/xdg/sshgress"},
		{"relative xdg ignored", []string{"XDG_STATE_HOME=xdg", "HOME=/home/ann"}, "/home/ann/.local/state/sshgress"},
		{"home", []string{"HOME=/home/ann"}, "/home/ann/.local/state/sshgress"},
		{"nothing", nil, "./sshgress-data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := defaultDataDir(lookupIn(tt.environ)); got != tt.want {
				t.Errorf("defaultDataDir() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLoadLayers(t *testing.T) {
	file := writeConfig(t, `
domain: File.Example.com.
data_dir: /file
ssh:
  addr: "0.0.0.0:22"
  handshake_timeout: 1m30s
  ciphers: [aes256-ctr]
http:
  addr: ":80"
log:
  level: warn
`)
	tests := []struct {
		name    string
		args    []string
		environ []string
		check   func(t *testing.T, c *Config)
	}{
		{
			name: "file overrides defaults",
			args: []string{"--config", file},
			check: func(t *testing.T, c *Config) {
				want := map[string]any{
					"domain": c.Domain == "file.example.com", "public_host follows domain": c.SSH.PublicHost == "file.example.com",
					"data_dir": c.DataDir == "/file", "ssh.addr": c.SSH.Addr == "0.0.0.0:22",
					"handshake_timeout":            c.SSH.HandshakeTimeout == 90*time.Second,
					"ciphers replaced, not merged": reflect.DeepEqual(c.SSH.Ciphers, []string{"aes256-ctr"}),
					"http.addr":                    c.HTTP.Addr == ":80", "log.level": c.Log.Level == "warn",
					"untouched default": c.SSH.KeepaliveCount == 3, "loopback": !c.SSHOnLoopback(),
				}
				for what, ok := range want {
					if !ok.(bool) {
						t.Errorf("%s: not as in the file: %+v", what, c)
					}
				}
			},
		},
		{
			name:    "env overrides file",
			args:    []string{"--config", file},
			environ: []string{"SSHGRESS_DOMAIN=env.example.com", "SSHGRESS_SSH_ADDR=127.0.0.1:2200", "SSHGRESS_SSH_CIPHERS=aes128-ctr, aes192-ctr", "SSHGRESS_HTTP_READ_HEADER_TIMEOUT=3s"},
			check: func(t *testing.T, c *Config) {
				if c.Domain != "env.example.com" || c.SSH.Addr != "127.0.0.1:2200" || c.DataDir != "/file" {
					t.Errorf("got domain %q ssh.addr %q data_dir %q, want env.example.com 127.0.0.1:2200 /file", c.Domain, c.SSH.Addr, c.DataDir)
				}
				if want := []string{"aes128-ctr", "aes192-ctr"}; !reflect.DeepEqual(c.SSH.Ciphers, want) {
					t.Errorf("ciphers = %q, want %q", c.SSH.Ciphers, want)
				}
				if c.HTTP.ReadHeaderTimeout != 3*time.Second {
					t.Errorf("read_header_timeout = %v, want 3s", c.HTTP.ReadHeaderTimeout)
				}
			},
		},
		{
			name:    "flags override env",
			args:    []string{"--config", file, "--domain", "flag.example.com", "--ssh-addr", "[::1]:2022", "--http-addr", "127.0.0.1:0", "--data-dir", "/flag", "--log-level", "debug"},
			environ: []string{"SSHGRESS_DOMAIN=env.example.com", "SSHGRESS_SSH_ADDR=127.0.0.1:2200", "SSHGRESS_LOG_LEVEL=error"},
			check: func(t *testing.T, c *Config) {
				got := []string{c.Domain, c.SSH.Addr, c.HTTP.Addr, c.DataDir, c.Log.Level}
				want := []string{"flag.example.com", "[::1]:2022", "127.0.0.1:0", "/flag", "debug"}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("got %q, want %q", got, want)
				}
				if !c.SSHOnLoopback() {
					t.Errorf("SSHOnLoopback() = false for [::1]")
				}
			},
		},
		{
			name:    "unset flags do not override env",
			args:    nil,
			environ: []string{"SSHGRESS_SSH_ADDR=127.0.0.1:2200"},
			check: func(t *testing.T, c *Config) {
				if c.SSH.Addr != "127.0.0.1:2200" {
					t.Errorf("ssh.addr = %q, want the env value 127.0.0.1:2200", c.SSH.Addr)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(flags(t, tt.args...), tt.environ)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func TestLoadIgnoresForeignFlags(t *testing.T) {
	fs := flags(t)
	fs.String("listen", "", "someone else's flag")
	if err := fs.Parse([]string{"--listen", "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(fs, nil); err != nil {
		t.Errorf("Load with a foreign flag set: %v", err)
	}
}

func TestLoadEnvMapping(t *testing.T) {
	tests := []struct {
		env   string
		check func(c *Config) bool
	}{
		{"SSHGRESS_DATA_DIR=/x", func(c *Config) bool { return c.DataDir == "/x" }},
		{"SSHGRESS_SSH_PUBLIC_HOST=203.0.113.7", func(c *Config) bool { return c.SSH.PublicHost == "203.0.113.7" }},
		{"SSHGRESS_SSH_KEEPALIVE_COUNT=7", func(c *Config) bool { return c.SSH.KeepaliveCount == 7 }},
		{"SSHGRESS_HTTP_IDLE_TIMEOUT=5m", func(c *Config) bool { return c.HTTP.IdleTimeout == 5*time.Minute }},
		{"SSHGRESS_HTTP_UPSTREAM_IDLE_TIMEOUT=5s", func(c *Config) bool { return c.HTTP.UpstreamIdleTimeout == 5*time.Second }},
		{"SSHGRESS_LIMITS_SHUTDOWN_GRACE=1s", func(c *Config) bool { return c.Limits.ShutdownGrace == time.Second }},
		{"SSHGRESS_PLUGINS_BASICAUTH_ENABLED=true", func(c *Config) bool { return c.Plugins["basicauth"].IsEnabled() }},
		{"SSHGRESS_PLUGINS_OAUTH_CONFIG_CLIENT_ID=abc", func(c *Config) bool { return c.Plugins["oauth"].Config["client_id"] == "abc" }},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			c, err := Load(nil, []string{tt.env})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !tt.check(c) {
				t.Errorf("%s not applied: got %+v", tt.env, c)
			}
		})
	}
}

func TestEnvNamesUnambiguous(t *testing.T) {
	s := newSchema()
	seen := make(map[string]string)
	for _, key := range s.leafKeys() {
		name := strings.ReplaceAll(key, ".", "_")
		if other, dup := seen[name]; dup {
			t.Errorf("keys %q and %q share the environment name %s", key, other, name)
		}
		seen[name] = key
		if got := s.envKey(name); got != key {
			t.Errorf("envKey(%q) = %q, want %q", name, got, key)
		}
		if strings.HasPrefix(name, "plugins_") || strings.HasPrefix(name, "accounts") {
			t.Errorf("fixed key %q collides with the plugins/accounts environment names", key)
		}
	}
}

func TestLoadPluginPathWithEnv(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	c, err := Load(nil, []string{"SSHGRESS_PLUGINS_GEO_PATH=/opt/geo", "SSHGRESS_PLUGINS_GEO_SHA256=" + strings.ToUpper(sum)})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	p := c.Plugins["geo"]
	if p.Path != "/opt/geo" || p.SHA256 != sum || !p.IsEnabled() {
		t.Errorf("plugins.geo = %+v, want path /opt/geo, lowercase sha256, enabled", p)
	}
}

func TestLoadResolvesRelativePaths(t *testing.T) {
	sum := strings.Repeat("0", 64)
	file := writeConfig(t, `
accounts:
  - name: ann
    keys_file: keys/ann
  - name: bob
    keys_file: /etc/bob.keys
plugins:
  geo:
    path: bin/geo
    sha256: "`+sum+`"
`)
	dir := filepath.Dir(file)
	c, err := Load(flags(t, "--config", file), nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	got := []string{c.Accounts[0].KeysFile, c.Accounts[1].KeysFile, c.Plugins["geo"].Path}
	want := []string{filepath.Join(dir, "keys/ann"), "/etc/bob.keys", filepath.Join(dir, "bin/geo")}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("paths = %q, want %q", got, want)
	}
}

func TestLoadDurations(t *testing.T) {
	tests := []struct {
		value   string
		want    time.Duration
		wantErr string
	}{
		{"30s", 30 * time.Second, ""},
		{"1m30s", 90 * time.Second, ""},
		{"250ms", 250 * time.Millisecond, ""},
		{"1h", time.Hour, ""},
		{`"2m"`, 2 * time.Minute, ""},
		{"30", 0, "config: ssh.handshake_timeout: 30: want a duration with a unit"},
		{"soon", 0, `config: ssh.handshake_timeout: "soon": want a duration with a unit`},
		{"0s", 0, "config: ssh.handshake_timeout: 0s: must be positive"},
		{"-5s", 0, "config: ssh.handshake_timeout: -5s: must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			file := writeConfig(t, "ssh:\n  handshake_timeout: "+tt.value+"\n")
			c, err := Load(flags(t, "--config", file), nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if c.SSH.HandshakeTimeout != tt.want {
				t.Errorf("handshake_timeout = %v, want %v", c.SSH.HandshakeTimeout, tt.want)
			}
		})
	}
}

func TestLoadEmptySections(t *testing.T) {
	file := writeConfig(t, "ssh:\nhttp: {}\nplugins:\n  basicauth:\n")
	c, err := Load(flags(t, "--config", file), nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.SSH.Addr != "127.0.0.1:2222" || c.HTTP.Addr != "127.0.0.1:8080" {
		t.Errorf("empty sections changed defaults: ssh.addr %q http.addr %q", c.SSH.Addr, c.HTTP.Addr)
	}
	if p, ok := c.Plugins["basicauth"]; !ok || p.IsEnabled() {
		t.Errorf("plugins.basicauth = %+v, %v; want present and disabled", p, ok)
	}
}

func TestLoadFileErrors(t *testing.T) {
	if _, err := Load(flags(t, "--config", filepath.Join(t.TempDir(), "missing.yaml")), nil); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: error = %v, want it to name the file", err)
	}
	if _, err := Load(flags(t, "--config", t.TempDir()), nil); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: error = %v, want not a regular file", err)
	}
	big := writeConfig(t, "# "+strings.Repeat("x", maxFileBytes)+"\n")
	if _, err := Load(flags(t, "--config", big), nil); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("big file: error = %v, want larger than", err)
	}
	bad := writeConfig(t, "ssh: [\n")
	if _, err := Load(flags(t, "--config", bad), nil); err == nil || !strings.Contains(err.Error(), "parse yaml") {
		t.Errorf("bad yaml: error = %v, want parse yaml", err)
	}
}
