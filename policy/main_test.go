package policy_test

import (
	"os"
	"testing"

	"github.com/sshgress/sshgress/e2e"
)

// TestMain removes the edge binary TestSecurityFloors builds.
func TestMain(m *testing.M) {
	code := m.Run()
	e2e.CleanupShared()
	os.Exit(code)
}
