package sdk_test

import (
	"strings"
	"testing"

	"github.com/sshgress/sshgress/sdk"
)

func TestValidPluginName(t *testing.T) {
	longest := "a" + strings.Repeat("b", sdk.MaxPluginNameLength-1)
	tests := []struct {
		name string
		ok   bool
	}{
		{"basicauth", true},
		{"geo-ip2", true},
		{"a", true},
		{longest, true},
		{longest + "c", false},
		{"", false},
		{"Basic", false},
		{"basic_auth", false},
		{"2fa", false},
		{"-x", false},
		{"bad name", false},
	}
	for _, tt := range tests {
		err := sdk.ValidPluginName(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("ValidPluginName(%q) = %v, want ok %v", tt.name, err, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), `"`+tt.name+`"`) {
			t.Errorf("ValidPluginName(%q) = %v, want the name quoted in the message", tt.name, err)
		}
	}
	// The manifest follows the same rule.
	m := sdk.Manifest{Name: longest + "c", APIVersion: sdk.APIVersion}
	if err := m.Validate(); err == nil {
		t.Errorf("Manifest{Name: %d bytes}.Validate() = nil, want the name refused", len(m.Name))
	}
}
