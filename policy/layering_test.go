package policy_test

import (
	"slices"
	"strings"
	"testing"
)

// forbidden are the arrows inside core/ that must not exist, directly or
// through another package (go list's Deps), each with why and what to do
// instead.
var forbidden = []struct {
	from, to string // import paths below the module; to "" means every package of the module
	why, fix string
}{
	{"core/httpedge", "core/sshserver",
		"the public side reaches a tunnel only through core/tunnel's Dialer, never the SSH server",
		"take a tunnel.Dialer (or another core/tunnel type) where it now uses the SSH server"},
	{"core/tcpedge", "core/sshserver",
		"the public side reaches a tunnel only through core/tunnel's Dialer, never the SSH server",
		"take a tunnel.Dialer (or another core/tunnel type) where it now uses the SSH server"},
	{"core/tlsedge", "core/sshserver",
		"the public side reaches a tunnel only through core/tunnel's Dialer, never the SSH server",
		"take a tunnel.Dialer (or another core/tunnel type) where it now uses the SSH server"},
	{"core/pluginhost", "core/sshserver",
		"endpoint plugins bind through core/tunnel's contract, never the SSH server",
		"bind through core/tunnel's bind request and endpoint types"},
	{"core/relay", "core/sshserver",
		"the visitor relay dials through core/tunnel, never the SSH server",
		"dial through a tunnel.Dialer"},
	{"core/tlsedge", "core/tcpedge",
		"TLS passthrough shares core/relay and core/tunnel with TCP endpoints, not the TCP listeners",
		"move what both edges need into core/relay or core/tunnel"},
	{"core/tunnel", "",
		"core/tunnel is the leaf contract both sides import: it imports nothing of this module",
		"move the code that needs it out of core/tunnel, or the needed piece into it"},
	// The HTTP forwarding engine moves bytes between a visitor's request and
	// a tunnel: it knows core/tunnel's dialer and nothing of the SSH server
	// or of any edge's routing (httpedge uses it, never the other way).
	{"core/httpedge/forward", "core/sshserver",
		"the forwarding engine reaches a tunnel only through core/tunnel's DialFunc, never the SSH server",
		"take a tunnel.DialFunc where it now uses the SSH server"},
	{"core/httpedge/forward", "core/httpedge",
		"the forwarding engine is used by the HTTP edge; routing, pages and middleware stay there",
		"pass what the engine needs in through forward.Options (as ErrorPage is)"},
	{"core/httpedge/forward", "core/tlsedge",
		"the forwarding engine knows no edge's listeners or routing",
		"move what both need into core/tunnel or core/relay"},
	{"core/httpedge/forward", "core/tcpedge",
		"the forwarding engine knows no edge's listeners or routing",
		"move what both need into core/tunnel or core/relay"},
	{"core/httpedge/forward", "core/pluginhost",
		"middleware runs in httpedge before a request reaches the forwarding engine",
		"run the plugin step in httpedge and pass its outcome in"},
}

// TestLayeringTunnelContract enforces forbidden: the SSH side and the
// public side meet only in core/tunnel.
func TestLayeringTunnelContract(t *testing.T) {
	pkgs := listPackages(t)
	seen := map[string]bool{}
	for _, p := range pkgs {
		seen[p.ImportPath] = true
	}
	for _, rule := range forbidden {
		from := module + "/" + rule.from
		if !seen[from] {
			t.Errorf("%s: no such package; update the rules in policy/layering_test.go to the package's new path", from)
		}
		for _, p := range pkgs {
			if p.ImportPath != from {
				continue
			}
			for _, dep := range p.Deps {
				bad := false
				if rule.to == "" {
					bad = dep == module || strings.HasPrefix(dep, module+"/")
				} else {
					bad = dep == module+"/"+rule.to
				}
				if bad {
					t.Errorf("%s depends on %s: %s; %s", from, dep, rule.why, rule.fix)
				}
			}
		}
	}
}

// areas are the top-level directories whose imports are ruled (STYLE.md
// rule 1: cmd → core → sdk, plugins → sdk), each with the areas it may
// import and why. An area not listed (bench/, e2e/, policy/) may import
// anything, but nothing may import e2e/ but tests (TestLayeringE2EOnlyInTests).
var areas = map[string]struct {
	may []string
	why string
}{
	"cmd": {[]string{"cmd", "core", "sdk", "plugins"},
		"the binaries only wire config into core.Edge and compile the bundled plugins in"},
	"core": {[]string{"core", "sdk", "third_party"},
		"the core hosts plugins through sdk's contract and runs them as child processes: it never links a plugin's code"},
	"sdk": {[]string{"sdk"},
		"sdk/ is all a plugin author imports: anything it imports every plugin links"},
	"plugins": {[]string{"sdk"},
		"the bundled plugins are the examples plugin authors copy: they build against sdk/ alone"},
	// The patched copy of x/crypto's ssh package (third_party/xcryptossh)
	// is upstream's code: it depends on nothing of the edge.
	"third_party": {[]string{"third_party"},
		"third_party/ is upstream's code with a small patch: it must stay comparable to upstream"},
}

// area is the top-level directory of one of the module's import paths,
// "" for a path outside the module.
func area(path string) string {
	rest := strings.TrimPrefix(path, module+"/")
	if rest == path {
		return "" // not ours
	}
	return strings.SplitN(rest, "/", 2)[0]
}

// TestLayering enforces areas: cmd → core → sdk, plugins → sdk; core never
// imports plugins; sdk imports neither; core may import third_party (the
// patched ssh package), which imports nothing of ours.
func TestLayering(t *testing.T) {
	for _, p := range listPackages(t) {
		from := area(p.ImportPath)
		if strings.Contains(p.ImportPath, "/testdata/") {
			continue
		}
		rules, ok := areas[from]
		if !ok {
			continue // bench/ and the like: free
		}
		for _, imp := range p.Imports {
			to := area(imp)
			if to == "" {
				continue
			}
			// A plugin may import its own subpackages.
			if from == "plugins" && to == "plugins" && strings.HasPrefix(imp, p.ImportPath) {
				continue
			}
			if !slices.Contains(rules.may, to) {
				t.Errorf("%s imports %s: %s/ may import only %v, because %s; move what both need into a package %s/ may import, or pass it in through an interface",
					p.ImportPath, imp, from, rules.may, rules.why, from)
			}
		}
	}
}

// TestLayeringE2EOnlyInTests: the end-to-end harness (package e2e) is test
// support (fixed test keys, the testing package, a binary built with go
// build): only _test.go files may import it, so none of it reaches a
// binary or a library.
func TestLayeringE2EOnlyInTests(t *testing.T) {
	harness := module + "/e2e"
	for _, p := range listPackages(t) {
		if p.ImportPath != harness && slices.Contains(p.Imports, harness) {
			t.Errorf("%s imports %s, which is test support: import it only from _test.go files, or move what the package needs out of e2e/", p.ImportPath, harness)
		}
	}
}
