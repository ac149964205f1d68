package policy_test

import (
	"encoding/json"
	"io"
	"os/exec"
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
		t.Fatalf("go list found only %d packages: run the test inside the module (go test ./policy/)", len(pkgs))
	}
	return pkgs
}
