package config

import (
	"slices"
	"testing"
)

func TestChanged(t *testing.T) {
	on := true
	tests := []struct {
		name   string
		change func(c *Config)
		want   []string
	}{
		{"nothing", func(*Config) {}, nil},
		{"a nested leaf", func(c *Config) { c.SSH.Addr = "0.0.0.0:22" }, []string{"ssh.addr"}},
		{"two sections", func(c *Config) { c.DataDir = "/elsewhere"; c.HTTPS.ACME.Email = "a@b.c" }, []string{"data_dir", "https.acme.email"}},
		{"accounts as one key", func(c *Config) { c.Accounts = []Account{{Name: "ann"}} }, []string{"accounts"}},
		{"a plugin turned on", func(c *Config) { c.Plugins = map[string]Plugin{"basicauth": {Enabled: &on}} }, []string{"plugins.basicauth.enabled"}},
		{"a plugin's own section", func(c *Config) {
			c.Plugins = map[string]Plugin{"oauth": {Config: map[string]any{"client_secret": "s3cret"}}}
		}, []string{"plugins.oauth.config"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := Defaults(), Defaults()
			tc.change(b)
			if got := Changed(a, b); !slices.Equal(got, tc.want) {
				t.Errorf("Changed = %q, want %q", got, tc.want)
			}
		})
	}
}
