package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"
)

// envPrefix starts every environment variable Load reads.
const envPrefix = "SSHGRESS_"

// maxFileBytes bounds the config file Load reads.
const maxFileBytes = 1 << 20

// flagConfig names the flag that points at the YAML file.
const flagConfig = "config"

// flagKeys maps the flags RegisterFlags adds to the keys they set.
var flagKeys = map[string]string{
	"domain":     "domain",
	"data-dir":   "data_dir",
	"ssh-addr":   "ssh.addr",
	"http-addr":  "http.addr",
	"https-addr": "https.addr",
	"admin-addr": "admin.addr",
	"log-level":  "log.level",
}

// RegisterFlags adds the flags Load reads to fs: --config FILE and
// overrides for the most common keys (--domain, --data-dir, --ssh-addr,
// --http-addr, --https-addr, --admin-addr, --log-level). Only flags the user sets override the file
// and environment.
func RegisterFlags(fs *pflag.FlagSet) {
	d := Defaults()
	fs.String(flagConfig, "", "read settings from this YAML `file` (see docs/sshgress.example.yaml)")
	fs.String("domain", d.Domain, "base `domain` of public tunnel names (domain)")
	fs.String("data-dir", "", "`directory` for the host key and generated secrets (data_dir; default $XDG_STATE_HOME/sshgress)")
	fs.String("ssh-addr", d.SSH.Addr, "`host:port` the SSH server listens on (ssh.addr)")
	fs.String("http-addr", d.HTTP.Addr, "`host:port` the public HTTP listener uses (http.addr)")
	fs.String("https-addr", d.HTTPS.Addr, "`host:port` of the shared TLS port for https and tls endpoints; \"\" disables it (https.addr)")
	fs.String("admin-addr", d.Admin.Addr, "`host:port` of the management API, loopback unless admin.cert_file is set; \"\" disables it (admin.addr)")
	fs.String("log-level", d.Log.Level, "log `level`: debug, info, warn or error (log.level)")
}

// Load builds the configuration from, lowest precedence first: the
// defaults; the YAML file named by the --config flag in fs, if set; the
// entries of environ ("KEY=value", as os.Environ returns) whose name
// starts with SSHGRESS_; and the flags of fs that were set on the command
// line (see RegisterFlags). fs may be nil. environ also supplies
// XDG_STATE_HOME and HOME for the default data_dir.
//
// The result is validated and normalised. An error names the key or
// environment variable at fault; unknown keys and unknown SSHGRESS_
// variables are errors.
func Load(fs *pflag.FlagSet, environ []string) (*Config, error) {
	s := newSchema()
	k := koanf.New(".")

	var file string
	if fs != nil && fs.Lookup(flagConfig) != nil {
		file, _ = fs.GetString(flagConfig)
	}
	var fileK *koanf.Koanf
	if file != "" {
		var err error
		if fileK, err = loadFile(s, file); err != nil {
			return nil, err
		}
		if err := k.Merge(fileK); err != nil {
			return nil, fmt.Errorf("config: merge %s: %w", file, err)
		}
	}
	if err := loadEnv(k, s, environ); err != nil {
		return nil, err
	}
	if fs != nil {
		if err := loadFlags(k, fs); err != nil {
			return nil, err
		}
	}

	c := defaults(lookupIn(environ))
	if err := decode(k, c); err != nil {
		return nil, err
	}
	if file != "" {
		resolveRelative(c, fileK, filepath.Dir(file))
	}
	if err := c.normaliseAndValidate(); err != nil {
		return nil, err
	}
	return c, nil
}

// loadFile reads and parses the YAML file and rejects unknown keys.
func loadFile(s *schema, path string) (*koanf.Koanf, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	} else if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("config: %s: not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("config: read %s: %w", path, err)
	}
	if len(b) > maxFileBytes {
		return nil, fmt.Errorf("config: %s: larger than %d bytes", path, maxFileBytes)
	}
	k, err := parseYAML(s, b)
	if err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	return k, nil
}

// parseYAML parses a config file's bytes and rejects unknown keys.
func parseYAML(s *schema, b []byte) (*koanf.Koanf, error) {
	k := koanf.New(".")
	if err := k.Load(bytesProvider(b), yaml.Parser()); err != nil {
		return nil, fmt.Errorf("parse yaml: %w", err)
	}
	keys := k.Keys()
	sort.Strings(keys)
	for _, key := range keys {
		if bad := s.unknownKey(key); bad != "" {
			return nil, fmt.Errorf("unknown key %q", bad)
		}
	}
	items, ok := k.Get(keyAccounts).([]any)
	if !ok {
		return k, nil // absent, or not a list: decode reports it
	}
	for i, item := range items {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s[%d]: want a mapping with name, keys, ...; got %T", keyAccounts, i, item)
		}
		fields := make([]string, 0, len(m))
		for f := range m {
			fields = append(fields, f)
		}
		sort.Strings(fields)
		for _, f := range fields {
			if !s.accountFields[f] {
				return nil, fmt.Errorf("unknown key %q in %s[%d]", f, keyAccounts, i)
			}
		}
	}
	return k, nil
}

// bytesProvider is a koanf.Provider over bytes already read.
type bytesProvider []byte

// ReadBytes returns the bytes.
func (b bytesProvider) ReadBytes() ([]byte, error) { return b, nil }

// Read is not supported: the bytes need a parser.
func (b bytesProvider) Read() (map[string]any, error) {
	return nil, errors.New("config: bytes provider needs a parser")
}

// loadEnv merges the SSHGRESS_ entries of environ into k.
func loadEnv(k *koanf.Koanf, s *schema, environ []string) error {
	var errs []error
	p := env.Provider(".", env.Opt{
		Prefix:      envPrefix,
		EnvironFunc: func() []string { return environ },
		TransformFunc: func(name, value string) (string, any) {
			rest := strings.ToLower(strings.TrimPrefix(name, envPrefix))
			if rest == keyAccounts || strings.HasPrefix(rest, keyAccounts+"_") {
				errs = append(errs, fmt.Errorf("config: %s: accounts can be set only in the config file", name))
				return "", nil
			}
			key := s.envKey(rest)
			if key == "" {
				errs = append(errs, fmt.Errorf("config: %s: no such setting (see docs/sshgress.example.yaml)", name))
				return "", nil
			}
			if s.isList(key) {
				return key, splitList(value)
			}
			return key, value
		},
	})
	if err := k.Load(p, nil); err != nil {
		return fmt.Errorf("config: environment: %w", err)
	}
	return errors.Join(errs...)
}

// splitList splits a comma-separated environment value, dropping blanks.
func splitList(v string) []any {
	out := []any{}
	for part := range strings.SplitSeq(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// loadFlags merges the flags of fs that were set and that RegisterFlags
// defines; other flags in fs are the caller's.
func loadFlags(k *koanf.Koanf, fs *pflag.FlagSet) error {
	p := posflag.ProviderWithFlag(fs, ".", nil, func(f *pflag.Flag) (string, any) {
		key, ok := flagKeys[f.Name]
		if !ok {
			return "", nil
		}
		return key, posflag.FlagVal(fs, f)
	})
	if err := k.Load(p, nil); err != nil {
		return fmt.Errorf("config: flags: %w", err)
	}
	return nil
}

// lookupIn returns a lookup function over environ entries "KEY=value".
func lookupIn(environ []string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		val, found := "", false
		for _, e := range environ {
			if k, v, ok := strings.Cut(e, "="); ok && k == name {
				val, found = v, true // the last entry wins, as in exec
			}
		}
		return val, found
	}
}

// pluginIndexRE matches mapstructure's name for a plugin's section,
// "plugins[name]", which errors write as the key "plugins.name".
var pluginIndexRE = regexp.MustCompile(`^plugins\[([^\]]*)\]`)

// decode copies the merged layers onto c, which holds the defaults.
func decode(k *koanf.Koanf, c *Config) error {
	err := k.UnmarshalWithConf("", c, koanf.UnmarshalConf{
		Tag: "koanf",
		DecoderConfig: &mapstructure.DecoderConfig{
			DecodeHook:       durationHook,
			WeaklyTypedInput: true,
			ErrorUnused:      true,
			TagName:          "koanf",
		},
	})
	if err == nil {
		return nil
	}
	var de *mapstructure.DecodeError
	if errors.As(err, &de) {
		return fmt.Errorf("config: %s: %w", pluginIndexRE.ReplaceAllString(de.Name(), "plugins.$1"), de.Unwrap())
	}
	return fmt.Errorf("config: %w", err)
}

// durationHook parses Go duration strings ("30s", "1m30s") into
// time.Duration and rejects bare numbers, which would silently mean
// nanoseconds.
func durationHook(from, to reflect.Type, data any) (any, error) {
	if to != reflect.TypeFor[time.Duration]() {
		return data, nil
	}
	if from.Kind() != reflect.String {
		return nil, fmt.Errorf("%v: want a duration with a unit, such as \"30s\" or \"500ms\"", data)
	}
	d, err := time.ParseDuration(data.(string))
	if err != nil {
		return nil, fmt.Errorf("%q: want a duration with a unit, such as \"30s\" or \"500ms\"", data)
	}
	return d, nil
}

// resolveRelative makes file references that came from the config file
// relative to the file's directory.
func resolveRelative(c *Config, fileK *koanf.Koanf, dir string) {
	for _, f := range []struct {
		key string
		p   *string
	}{{"https.cert_file", &c.HTTPS.CertFile}, {"https.key_file", &c.HTTPS.KeyFile}, {"https.acme.ca_root", &c.HTTPS.ACME.CARoot}} {
		if *f.p != "" && !filepath.IsAbs(*f.p) && fileK.String(f.key) == *f.p {
			*f.p = absJoin(dir, *f.p)
		}
	}
	for i := range c.Accounts {
		if p := c.Accounts[i].KeysFile; p != "" && !filepath.IsAbs(p) {
			c.Accounts[i].KeysFile = absJoin(dir, p)
		}
	}
	for name, p := range c.Plugins {
		if p.Path == "" || filepath.IsAbs(p.Path) {
			continue
		}
		if fileK.String(keyPlugins+"."+name+".path") != p.Path {
			continue // set by the environment: relative to the working directory
		}
		p.Path = absJoin(dir, p.Path)
		c.Plugins[name] = p
	}
}

// absJoin joins dir and p and makes the result absolute when it can.
func absJoin(dir, p string) string {
	j := filepath.Join(dir, p)
	if a, err := filepath.Abs(j); err == nil {
		return a
	}
	return j
}
