package policy_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/sshgress/sshgress"

type listedPackage struct {
	ImportPath string
	Doc        string
	Imports    []string
	Deps       []string
	Name       string
}

// forbidden are the arrows inside core/ that must not exist, directly or
// through another package (go list's Deps), each with why.
var forbidden = []struct {
	from, to string // import paths below the module; to "" means every package of the module
	why      string
}{
	{"core/httpedge", "core/sshserver", "the public side reaches a tunnel only through core/tunnel's Dialer, never the SSH server"},
	{"core/tcpedge", "core/sshserver", "the public side reaches a tunnel only through core/tunnel's Dialer, never the SSH server"},
	{"core/tlsedge", "core/sshserver", "the public side reaches a tunnel only through core/tunnel's Dialer, never the SSH server"},
	{"core/pluginhost", "core/sshserver", "endpoint plugins bind through core/tunnel's contract, never the SSH server"},
	{"core/relay", "core/sshserver", "the visitor relay dials through core/tunnel, never the SSH server"},
	{"core/tlsedge", "core/tcpedge", "TLS passthrough shares core/relay and core/tunnel with TCP endpoints, not the TCP listeners"},
	{"core/tunnel", "", "core/tunnel is the leaf contract both sides import: it imports nothing of this module"},
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
			t.Errorf("%s: no such package; update the layering rules", from)
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
					t.Errorf("%s depends on %s: %s", from, dep, rule.why)
				}
			}
		}
	}
}

// TestLayering enforces the import arrows of STYLE.md: cmd → core → sdk,
// plugins → sdk; core never imports plugins; sdk imports neither; core may
// import third_party (the patched ssh package), which imports nothing of
// ours. It also checks that every package has a doc comment.
func TestLayering(t *testing.T) {
	pkgs := listPackages(t)
	area := func(path string) string {
		rest := strings.TrimPrefix(path, module+"/")
		if rest == path {
			return "" // not ours
		}
		return strings.SplitN(rest, "/", 2)[0]
	}
	allowed := map[string]map[string]bool{
		"cmd":     {"cmd": true, "core": true, "sdk": true, "plugins": true},
		"core":    {"core": true, "sdk": true, "third_party": true},
		"sdk":     {"sdk": true},
		"plugins": {"sdk": true},
		// The patched copy of x/crypto's ssh package (third_party/xcryptossh)
		// is upstream's code: it depends on nothing of the edge.
		"third_party": {"third_party": true},
	}
	for _, p := range pkgs {
		from := area(p.ImportPath)
		if strings.Contains(p.ImportPath, "/testdata/") {
			continue
		}
		rules, ok := allowed[from]
		if !ok {
			continue // bench/ and the like: free
		}
		for _, imp := range p.Imports {
			to := area(imp)
			if to == "" {
				continue
			}
			if from == "plugins" && to == "plugins" && strings.HasPrefix(imp, p.ImportPath) {
				continue
			}
			if !rules[to] {
				t.Errorf("%s imports %s: %s/ may import only %v", p.ImportPath, imp, from, keys(rules))
			}
		}
		if p.Doc == "" {
			t.Errorf("%s has no package doc comment", p.ImportPath)
		}
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// listPackages returns the module's packages as go list -json sees them.
func listPackages(t *testing.T) []listedPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", module+"/...")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(out)
	var pkgs []listedPackage
	for {
		var p listedPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if len(pkgs) < 5 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}
