package policy_test

import (
	"debug/buildinfo"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/sshgress/sshgress/e2e"
	"github.com/sshgress/sshgress/third_party/xcryptossh"
)

// minimumVersions are the lowest releases with fixes the edge relies on:
// each module parses what strangers send (SSH packets, HTTP/2 frames), so
// a release with a known hole in that parsing must not ship.
var minimumVersions = map[string]string{
	// CVE-2024-45337 (v0.31.0), CVE-2025-22869 (v0.35.0), CVE-2025-58181
	// and CVE-2025-47914 (v0.45.0).
	"golang.org/x/crypto": "v0.45.0",
	// HTTP/2 rapid reset and CONTINUATION flood fixes (v0.23.0).
	"golang.org/x/net": "v0.23.0",
}

// TestSecurityFloors fails when the edge binary the suite runs (built
// from go.mod's build list by e2e.SharedBinary) contains a module older
// than a release with known security fixes, or a replaced one (whose
// version then says nothing of the code built). The modules are read from
// the binary itself: a test binary records none. The ssh package is the
// patched copy in third_party/xcryptossh: the x/crypto release it was
// copied from must clear the x/crypto floor too (third_party's tests hold
// it equal to the x/crypto version go.mod requires).
func TestSecurityFloors(t *testing.T) {
	bin := e2e.SharedBinary(t)
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatalf("read the build information of %s: %v", bin, err)
	}
	built := map[string]*debug.Module{}
	for _, m := range info.Deps {
		built[m.Path] = m
	}
	for mod, floor := range minimumVersions {
		m := built[mod]
		switch {
		case m == nil:
			t.Errorf("%s is not built into the edge binary, so its floor %s cannot be checked: drop it from minimumVersions if it is no longer a dependency", mod, floor)
		case m.Replace != nil:
			t.Errorf("%s %s is replaced by %s %s: the version built is not a release, so its floor %s cannot be checked; drop the replace directive from go.mod",
				mod, m.Version, m.Replace.Path, m.Replace.Version, floor)
		case compareSemver(m.Version, floor) < 0:
			t.Errorf("%s is %s; it must be at least %s (security fixes): run go get %s@%s && go mod tidy", mod, m.Version, floor, mod, floor)
		}
	}
	if floor := minimumVersions["golang.org/x/crypto"]; compareSemver(xcryptossh.Upstream, floor) < 0 {
		t.Errorf("third_party/xcryptossh is a copy of x/crypto %s; it must be at least %s (security fixes): copy the ssh package of a newer release in (third_party/xcryptossh/FORK.md, \"Updating\")", xcryptossh.Upstream, floor)
	}
}

// TestCompareSemver checks the comparison TestSecurityFloors relies on.
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
