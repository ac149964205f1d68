package config

import (
	"strings"
	"testing"
)

// TestDashboardSection checks the dashboard keys' validation and mapping.
func TestDashboardSection(t *testing.T) {
	bad := []struct{ name, yaml, want string }{
		{"member without account", "dashboard:\n  members: [ann@example.com]\n", "config: dashboard.members"},
		{"member without email", "dashboard:\n  members: [ann=ann]\n", "config: dashboard.members"},
		{"label", "dashboard:\n  label: my_dash\n", "config: dashboard.label"},
		{"link ttl", "dashboard:\n  link_ttl: 2h\n", "config: dashboard.link_ttl"},
		{"no tls port", "https:\n  addr: \"\"\ndashboard:\n  enabled: true\n", "config: dashboard.enabled"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(flags(t, "--config", writeConfig(t, tc.yaml)), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
	c, err := Load(flags(t, "--config", writeConfig(t, "dashboard:\n  enabled: true\n  members: [\"Ann@Example.com = ann\"]\n")), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Dashboard.MemberAccounts()["ann@example.com"]; got != "ann" {
		t.Errorf("MemberAccounts[ann@example.com] = %q, want ann", got)
	}
	if c.Dashboard.Label != "dashboard" || c.Dashboard.LinkTTL.Minutes() != 5 {
		t.Errorf("defaults: label %q link_ttl %s", c.Dashboard.Label, c.Dashboard.LinkTTL)
	}
}
