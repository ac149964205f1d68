package e2e_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/sshgress/sshgress/e2e"
)

func TestMain(m *testing.M) {
	code := m.Run()
	e2e.CleanupShared()
	if code == 0 {
		// Every edge a test started has been shut down: nothing of it may
		// still run (connections, sessions, pools, plugin clients).
		if err := goleak.Find(); err != nil {
			os.Stderr.WriteString("goroutine leak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}
