package events

import (
	"testing"

	"go.uber.org/goleak"
)

// Every webhook sender and connection a test starts ends with it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
