package thirdparty

import (
	"bytes"
	"context"
	"encoding/json"
	"go/format"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sshgress/sshgress/third_party/xcryptossh"
)

const (
	upstreamModule = "golang.org/x/crypto"
	forkModulePath = "github.com/sshgress/sshgress/third_party/xcryptossh"
	forkDir        = "xcryptossh"
)

// patched are the files that differ from upstream on purpose (FORK.md);
// added are files upstream does not have.
var (
	patched = []string{
		"ssh/buffer.go", "ssh/channel.go", "ssh/cipher.go",
		"ssh/handshake.go", "ssh/mux.go", "ssh/server.go", "ssh/transport.go",
	}
	added = []string{
		"FORK.md", "version.go",
		"ssh/sshgress_pool_test.go", "ssh/sshgress_toolarge_test.go",
		"ssh/sshgress_race_test.go", "ssh/sshgress_norace_test.go",
		"ssh/sshgress_coalesce.go", "ssh/sshgress_coalesce_test.go",
	}
)

// TestXCryptoVersionMatchesGoMod fails when go.mod's x/crypto requirement,
// or the version the build selects, is not the release the copy was taken
// from: bumping x/crypto without copying its ssh package in again would
// otherwise leave the edge on an older ssh package than go.mod says (and
// than the security-floor test checks).
func TestXCryptoVersionMatchesGoMod(t *testing.T) {
	var gomod struct {
		Require []struct{ Path, Version string }
		Replace []struct {
			Old, New struct{ Path, Version string }
		}
	}
	goJSON(t, &gomod, "mod", "edit", "-json")
	required := ""
	for _, r := range gomod.Require {
		if r.Path == upstreamModule {
			required = r.Version
		}
	}
	if required != xcryptossh.Upstream {
		t.Errorf("go.mod requires %s %q but third_party/xcryptossh is a copy of %s: copy the ssh package of the required release in (FORK.md, \"Updating\") or require %s",
			upstreamModule, required, xcryptossh.Upstream, xcryptossh.Upstream)
	}
	for _, r := range gomod.Replace {
		if r.Old.Path == upstreamModule {
			t.Errorf("go.mod replaces %s with %s: x/crypto comes from the module proxy; only its ssh package is copied, under third_party/xcryptossh", upstreamModule, r.New.Path)
		}
	}
	var selected struct {
		Version string
		Replace *struct{ Path string }
	}
	goJSON(t, &selected, "list", "-m", "-json", upstreamModule)
	switch {
	case selected.Replace != nil:
		t.Errorf("the build takes %s from %s, not from the module proxy", upstreamModule, selected.Replace.Path)
	case selected.Version != xcryptossh.Upstream:
		t.Errorf("the build selects %s %s, not %s, the release third_party/xcryptossh is a copy of",
			upstreamModule, selected.Version, xcryptossh.Upstream)
	}
}

// TestNoUpstreamSSHInBuild fails when any package of the module builds
// against upstream's ssh package (or its subpackages) instead of the
// patched copy: two ssh packages would mean two sets of types and a path
// that bypasses the patch. The copy's tests may use upstream's test keys
// (ssh/testdata) and ssh/terminal, which hold no ssh types.
func TestNoUpstreamSSHInBuild(t *testing.T) {
	allowedInTests := map[string]bool{
		upstreamModule + "/ssh/testdata": true,
		upstreamModule + "/ssh/terminal": true,
	}
	for _, withTests := range []bool{false, true} {
		args := []string{"list", "-deps"}
		if withTests {
			args = append(args, "-test")
		}
		out := goOutput(t, append(args, "./...")...)
		for _, pkg := range strings.Fields(string(out)) {
			if pkg != upstreamModule+"/ssh" && !strings.HasPrefix(pkg, upstreamModule+"/ssh/") {
				continue
			}
			if withTests && allowedInTests[pkg] {
				continue
			}
			t.Errorf("go %s ./... lists %s: import %s instead", strings.Join(args, " "), pkg,
				strings.Replace(pkg, upstreamModule, forkModulePath, 1))
		}
	}
}

// TestXCryptoForkMatchesUpstream compares every file of the copy with the
// upstream release it records: only the listed files may differ, and each
// of them must. Go files are compared after the one mechanical change the
// copy makes, applied here to upstream's text: imports of the copied
// packages name their new path, then gofmt sorts the imports.
func TestXCryptoForkMatchesUpstream(t *testing.T) {
	var mod struct{ Dir string }
	goJSON(t, &mod, "mod", "download", "-json", upstreamModule+"@"+xcryptossh.Upstream)
	if mod.Dir == "" {
		t.Fatalf("go mod download %s@%s: no module directory", upstreamModule, xcryptossh.Upstream)
	}
	isPatched := map[string]bool{}
	for _, f := range patched {
		isPatched[f] = true
	}
	isAdded := map[string]bool{}
	for _, f := range added {
		isAdded[f] = true
	}
	seen := map[string]bool{}
	err := filepath.WalkDir(forkDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel := filepath.ToSlash(strings.TrimPrefix(path, forkDir+string(filepath.Separator)))
		seen[rel] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	dirs := copiedDirs(seen)
	rewrite := importRewrite(dirs)
	for rel := range seen {
		ours, err := os.ReadFile(filepath.Join(forkDir, rel))
		if err != nil {
			t.Fatal(err)
		}
		theirs, err := os.ReadFile(filepath.Join(mod.Dir, rel))
		if err == nil && strings.HasSuffix(rel, ".go") {
			if theirs, err = rewrite(theirs); err != nil {
				t.Errorf("upstream %s: %v", rel, err)
				continue
			}
		}
		switch {
		case isAdded[rel]:
			if err == nil {
				t.Errorf("%s is listed as added but upstream has it", rel)
			}
		case err != nil:
			t.Errorf("%s is not in upstream %s", rel, xcryptossh.Upstream)
		case isPatched[rel] && bytes.Equal(ours, theirs):
			t.Errorf("%s is listed as patched but equals upstream", rel)
		case isPatched[rel] && !bytes.Contains(ours, []byte("sshgress patch")):
			t.Errorf("%s is patched but has no \"sshgress patch\" marker (FORK.md)", rel)
		case !isPatched[rel] && !bytes.Equal(ours, theirs):
			t.Errorf("%s differs from upstream %s but is not listed as patched (FORK.md, patched)", rel, xcryptossh.Upstream)
		}
	}
	for _, f := range append(append([]string(nil), patched...), added...) {
		if !seen[f] {
			t.Errorf("%s is listed but missing from the copy", f)
		}
	}
	// Every file of a copied package must be there, its tests included: a
	// package missing a source file may still build and behave
	// differently, and a missing test would test less than upstream does.
	// The ssh tests' data (ssh/testdata) must be there too, except its Go
	// package, which the tests import from upstream.
	for dir := range dirs {
		wantAll(t, mod.Dir, dir, seen, func(name string) bool {
			return strings.HasSuffix(name, ".go") || strings.HasSuffix(name, ".s")
		})
	}
	wantAll(t, mod.Dir, "ssh/testdata", seen, func(name string) bool { return !strings.HasSuffix(name, ".go") })
	if dirs["ssh/testdata"] {
		t.Errorf("the copy has Go files in ssh/testdata: its tests import upstream's %s/ssh/testdata", upstreamModule)
	}
}

// wantAll reports every file of upstream's dir that want selects and the
// copy does not have.
func wantAll(t *testing.T, upstream, dir string, seen map[string]bool, want func(name string) bool) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(upstream, dir))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() || !want(e.Name()) {
			continue
		}
		if rel := dir + "/" + e.Name(); !seen[rel] {
			t.Errorf("upstream %s is missing from the copy", rel)
		}
	}
}

// copiedDirs returns the upstream package directories the copy holds (the
// root holds only version.go, which upstream does not have).
func copiedDirs(files map[string]bool) map[string]bool {
	dirs := map[string]bool{}
	for f := range files {
		if strings.HasSuffix(f, ".go") {
			dirs[filepath.ToSlash(filepath.Dir(f))] = true
		}
	}
	delete(dirs, ".")
	return dirs
}

// importRewrite returns the transformation the copy applies to an
// upstream Go file: an import of a copied package names the copy's path
// (upstream's internal packages cannot be imported from another module,
// and the ssh package must be the patched one), and gofmt then sorts the
// imports. Nothing else changes.
func importRewrite(dirs map[string]bool) func([]byte) ([]byte, error) {
	var pairs []string
	for dir := range dirs {
		pairs = append(pairs, `"`+upstreamModule+"/"+dir+`"`, `"`+forkModulePath+"/"+dir+`"`)
	}
	r := strings.NewReplacer(pairs...)
	return func(src []byte) ([]byte, error) {
		return format.Source([]byte(r.Replace(string(src))))
	}
}

// allocationTest measures the heap the patch saves. The race detector
// makes every allocation bigger and sync.Pool drop a share of what is put
// back on purpose, so it holds only in a build without -race, and the ssh
// package skips it under -race.
const allocationTest = "TestPooledPacketsAllocation"

// TestXCryptoForkSSHTests runs the patch's allocation test without -race
// when the suite runs with it (the README's test command), where the ssh
// package's own run skips it. The copy's other tests, upstream's and the
// patch's, run with the suite as the packages they are in.
func TestXCryptoForkSSHTests(t *testing.T) {
	if !raceEnabled {
		t.Log(allocationTest + " runs in the ssh package's own tests in a build without -race")
		return
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	args := []string{"test", "-timeout", "4m", "-count=1", "-run", "^" + allocationTest + "$", "-v", "./" + forkDir + "/ssh/"}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if !bytes.Contains(out, []byte("--- PASS: "+allocationTest)) {
		t.Fatalf("go %s ran no %s:\n%s", strings.Join(args, " "), allocationTest, out)
	}
	t.Logf("go %s:\n%s", strings.Join(args, " "), out)
}

// goOutput runs the go command in the module's root, bounded.
func goOutput(t *testing.T, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = ".."
	cmd.WaitDelay = 10 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

// goJSON runs the go command in the module's root and decodes its JSON.
func goJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	out := goOutput(t, args...)
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatalf("go %s: %v in %s", strings.Join(args, " "), err, out)
	}
}
