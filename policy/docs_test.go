package policy_test

import (
	"path"
	"strings"
	"testing"
)

// TestPackageDocs: every package has a doc comment (STYLE.md rule 2), so a
// reader learns what a package is for, and why it is shaped so, before
// reading its code; go doc and pkg.go.dev show it first.
func TestPackageDocs(t *testing.T) {
	for _, p := range listPackages(t) {
		if strings.Contains(p.ImportPath, "/testdata/") {
			continue
		}
		if p.Doc == "" {
			start := "// Package " + p.Name
			if p.Name == "main" {
				start = "// Command " + path.Base(p.ImportPath)
			}
			t.Errorf("%s has no package doc comment: add one (%q…, in doc.go or its main file) saying what the package is for", p.ImportPath, start)
		}
	}
}
