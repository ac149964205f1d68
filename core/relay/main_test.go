package relay

import (
	"testing"

	"go.uber.org/goleak"
)

// Every relay, splice and backend goroutine a test starts ends with it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
