// Package thirdparty holds patched copies of dependencies, each used
// through a replace directive in the root go.mod; its tests keep them
// honest.
package thirdparty

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	// upstreamVersion is the x/crypto release the copy is taken from.
	upstreamVersion = "v0.59.0"
	forkDir         = "golang.org/x/crypto"
)

// patched are the files that differ from upstream on purpose (FORK.md);
// added are files upstream does not have.
var (
	patched = []string{
		"ssh/buffer.go", "ssh/channel.go", "ssh/cipher.go",
		"ssh/handshake.go", "ssh/mux.go", "ssh/server.go", "ssh/transport.go",
		"ssh/testdata/keys.go", // gofmt only: the tree's gofmt check covers every file
	}
	added = []string{"FORK.md", "ssh/sshgress_pool_test.go", "ssh/sshgress_toolarge_test.go"}
)

// TestXCryptoForkMatchesUpstream compares every file of the copy with the
// upstream module: only the listed files may differ, and each of them must.
func TestXCryptoForkMatchesUpstream(t *testing.T) {
	out, err := exec.Command("go", "mod", "download", "-json", "golang.org/x/crypto@"+upstreamVersion).Output()
	if err != nil {
		t.Fatalf("go mod download golang.org/x/crypto@%s: %v", upstreamVersion, err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download: no module directory in %s", out)
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
	err = filepath.WalkDir(forkDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel := filepath.ToSlash(strings.TrimPrefix(path, forkDir+string(filepath.Separator)))
		seen[rel] = true
		ours, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		theirs, err := os.ReadFile(filepath.Join(mod.Dir, rel))
		switch {
		case isAdded[rel]:
			if err == nil {
				t.Errorf("%s is listed as added but upstream has it", rel)
			}
		case err != nil:
			t.Errorf("%s is not in upstream %s", rel, upstreamVersion)
		case isPatched[rel] && bytes.Equal(ours, theirs):
			t.Errorf("%s is listed as patched but equals upstream", rel)
		case !isPatched[rel] && !bytes.Equal(ours, theirs):
			t.Errorf("%s differs from upstream %s but is not listed as patched (FORK.md, patched)", rel, upstreamVersion)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range append(append([]string(nil), patched...), added...) {
		if !seen[f] {
			t.Errorf("%s is listed but missing from the copy", f)
		}
	}
	// Every non-test source file of a copied package must be there: a
	// package missing a file may still build and behave differently.
	for dir := range copiedDirs(seen) {
		entries, err := os.ReadDir(filepath.Join(mod.Dir, dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			name := e.Name()
			rel := dir + "/" + name
			if e.IsDir() || strings.HasSuffix(name, "_test.go") || !strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, ".s") {
				continue
			}
			if !seen[rel] {
				t.Errorf("upstream %s is missing from the copy", rel)
			}
		}
	}
}

// copiedDirs returns the package directories the copy holds.
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

// allocationTest measures the heap the patch saves. The race detector
// makes every allocation bigger and sync.Pool drop a share of what is put
// back on purpose, so it holds only in a build without -race.
const allocationTest = "TestPooledPacketsAllocation"

// TestXCryptoForkSSHTests runs the ssh package's upstream tests, and the
// patch's own, against the patched copy. The copy is a module of its own,
// which `go test ./...` at the root does not enter, so this test runs them
// in the same mode as itself: under -race when it was built with -race
// (the README's test command), then the allocation test alone without it.
func TestXCryptoForkSSHTests(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the x/crypto/ssh test suite (~15 s, ~2 min with -race)")
	}
	runs := [][]string{{"-count=1", "./ssh/", "./ssh/internal/..."}}
	if raceEnabled {
		runs = [][]string{
			{"-race", "-count=1", "-skip", "^" + allocationTest + "$", "./ssh/", "./ssh/internal/..."},
			{"-count=1", "-run", "^" + allocationTest + "$", "./ssh/"},
		}
	}
	for _, args := range runs {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
		cmd := exec.CommandContext(ctx, "go", append([]string{"test", "-timeout", "9m"}, args...)...)
		cmd.Dir = forkDir
		cmd.WaitDelay = 10 * time.Second
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("go test %s on the patched copy: %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Logf("go test %s:\n%s", strings.Join(args, " "), out)
	}
}
