package config

import (
	"strings"
	"testing"
)

// FuzzParseYAML feeds arbitrary config files through parsing, decoding and
// validation: no input may panic, and an accepted config must validate
// again unchanged (normalisation is idempotent).
func FuzzParseYAML(f *testing.F) {
	f.Add([]byte("domain: Example.COM.\nssh:\n  addr: ':22'\n"))
	f.Add([]byte("accounts:\n  - name: ann\n    keys_file: k\n    domains: [App]\n"))
	f.Add([]byte("plugins:\n  x:\n    config: {a: [1, 2]}\n"))
	f.Add([]byte("ssh:\n  ciphers: aes128-ctr\n  handshake_timeout: 5\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s := newSchema()
		k, err := parseYAML(s, b)
		if err != nil {
			return
		}
		c := defaults(lookupIn(nil))
		if err := decode(k, c); err != nil {
			return
		}
		if err := c.normaliseAndValidate(); err != nil {
			return
		}
		if err := c.normaliseAndValidate(); err != nil {
			t.Errorf("valid config fails a second validation: %v", err)
		}
	})
}

// FuzzNormaliseDNSName checks that accepted names are lowercase ASCII,
// bounded and stable under a second normalisation.
func FuzzNormaliseDNSName(f *testing.F) {
	for _, s := range []string{"localhost", "Tunnel.Example.COM.", "*.a.b", "a..b", "-a", "xn--bcher-kva.example", "ü.example"} {
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, name string, wildcard bool) {
		got, err := normaliseDNSName(name, wildcard)
		if err != nil {
			return
		}
		if len(got) > 253 || got != strings.ToLower(got) {
			t.Errorf("normaliseDNSName(%q) = %q: not lowercase or too long", name, got)
		}
		again, err := normaliseDNSName(got, wildcard)
		if err != nil || again != got {
			t.Errorf("normaliseDNSName(%q) = %q, %v; want %q, nil", got, again, err, got)
		}
	})
}

// FuzzEnvKey checks that every environment name maps to no key or to a
// key the config file would also accept.
func FuzzEnvKey(f *testing.F) {
	for _, s := range []string{"ssh_addr", "plugins_basicauth_enabled", "plugins_x_config_y", "plugins__path", "plugins_a.b_path", "accounts"} {
		f.Add(s)
	}
	s := newSchema()
	f.Fuzz(func(t *testing.T, name string) {
		key := s.envKey(strings.ToLower(name))
		if key == "" {
			return
		}
		if bad := s.unknownKey(key); bad != "" {
			t.Errorf("envKey(%q) = %q, which a config file would reject (%q)", name, key, bad)
		}
	})
}
