package tunnel

import (
	"strings"
	"testing"
)

// TestPoolNotices: a member's session hears of pool changes, at most
// MaxPoolNotices lines in all, the last saying the rest go untold.
func TestPoolNotices(t *testing.T) {
	var lines []string
	p := &PoolNotices{Line: func(s string) { lines = append(lines, s) }}
	p.Changed("app.localhost", true, 2)
	p.Changed("app.localhost", false, 1)
	if want := []string{
		"Pooled      a tunnel joined app.localhost: pool of 2 now",
		"Pooled      a tunnel left app.localhost: pool of 1 now",
	}; strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("lines %q, want %q", lines, want)
	}
	for range 3 * MaxPoolNotices {
		p.Changed("app.localhost", true, 3)
	}
	if len(lines) != MaxPoolNotices || !strings.Contains(lines[len(lines)-1], "further changes to the pool are not shown") {
		t.Errorf("%d lines after many changes, last %q; want %d, the last saying further changes are not shown", len(lines), lines[len(lines)-1], MaxPoolNotices)
	}
	var zero PoolNotices
	zero.Changed("app.localhost", true, 2) // no console: nothing, no panic
}
