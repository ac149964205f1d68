package config

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const examplePath = "../../docs/sshgress.example.yaml"

// TestExampleLoads keeps docs/sshgress.example.yaml valid.
func TestExampleLoads(t *testing.T) {
	c, err := Load(flags(t, "--config", examplePath), nil)
	if err != nil {
		t.Fatalf("Load(example): %v", err)
	}
	if c.Domain != "tunnel.example.com" || c.SSH.Addr != ":2222" {
		t.Errorf("example: domain %q ssh.addr %q, want tunnel.example.com :2222", c.Domain, c.SSH.Addr)
	}
	if len(c.Accounts) == 0 {
		t.Fatal("example: no accounts, want an example account")
	}
	if !c.Plugins["basicauth"].IsEnabled() {
		t.Errorf("example: basicauth not enabled")
	}
	var thirdParty bool
	for _, p := range c.Plugins {
		if p.Path != "" && p.SHA256 != "" && len(p.Config) > 0 {
			thirdParty = true
		}
	}
	if !thirdParty {
		t.Errorf("example: no third-party plugin with path, sha256 and config")
	}
}

// TestExampleDocumentsEveryKey makes sure a new key gets documented: every
// fixed key must be set in the example, and every account and plugin field
// must appear in it (keys_file is shown commented out, since the file it
// names does not exist).
func TestExampleDocumentsEveryKey(t *testing.T) {
	b, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	k, err := parseYAML(newSchema(), b)
	if err != nil {
		t.Fatalf("parse example: %v", err)
	}
	for _, key := range newSchema().leafKeys() {
		t.Run(key, func(t *testing.T) {
			if !k.Exists(key) {
				t.Errorf("%s is not set in %s; document it with its default", key, filepath.Base(examplePath))
			}
		})
	}
	fields := append([]string{}, pluginFields...)
	for f := range newSchema().accountFields {
		fields = append(fields, f)
	}
	for _, f := range fields {
		t.Run(f, func(t *testing.T) {
			re := regexp.MustCompile(`(?m)^\s*(#\s*|-\s*)?` + regexp.QuoteMeta(f) + `:`)
			if !re.Match(b) {
				t.Errorf("field %q does not appear in %s", f, filepath.Base(examplePath))
			}
		})
	}
	if !strings.Contains(string(b), "Default:") {
		t.Errorf("example has no Default: comments")
	}
}
