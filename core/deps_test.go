package core_test

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// minimumVersions are the lowest releases with fixes the edge relies on.
var minimumVersions = map[string]string{
	// CVE-2024-45337 (v0.31.0), CVE-2025-22869 (v0.35.0), CVE-2025-58181
	// and CVE-2025-47914 (v0.45.0).
	"golang.org/x/crypto": "v0.45.0",
	// HTTP/2 rapid reset and CONTINUATION flood fixes (v0.23.0).
	"golang.org/x/net": "v0.23.0",
}

// TestSecurityFloors fails when go.mod selects a module older than a
// release with known security fixes.
func TestSecurityFloors(t *testing.T) {
	for mod, floor := range minimumVersions {
		out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", mod).Output()
		if err != nil {
			t.Fatalf("go list -m %s: %v", mod, err)
		}
		got := strings.TrimSpace(string(out))
		if compareSemver(got, floor) < 0 {
			t.Errorf("%s is %s; it must be at least %s (security fixes)", mod, got, floor)
		}
	}
}

func TestCompareSemver(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"v0.59.0", "v0.45.0", 1},
		{"v0.45.0", "v0.45.0", 0},
		{"v0.9.0", "v0.45.0", -1},
		{"v1.0.0", "v0.99.9", 1},
		{"v0.45.1-0.20250101", "v0.45.0", 1},
	}
	for _, tc := range tests {
		if got := compareSemver(tc.a, tc.b); got != tc.want {
			t.Errorf("compareSemver(%s, %s) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

// compareSemver compares vMAJOR.MINOR.PATCH versions, ignoring suffixes.
func compareSemver(a, b string) int {
	pa, pb := parts(a), parts(b)
	for i := range 3 {
		if pa[i] != pb[i] {
			if pa[i] < pb[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

func parts(v string) [3]int {
	var out [3]int
	v = strings.TrimPrefix(v, "v")
	if i := strings.IndexAny(v, "-+"); i >= 0 {
		v = v[:i]
	}
	for i, p := range strings.SplitN(v, ".", 3) {
		out[i], _ = strconv.Atoi(p)
	}
	return out
}
