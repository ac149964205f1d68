package policy_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestLayeringCoreNamesNoPlugin enforces STYLE.md rule 12: the core never
// names a plugin. What it must know of one (its commands and their help,
// the remote ports they take, the hosts it serves) comes from the plugin's
// manifest and its Configure answer, so a bundled plugin can change, or a
// third-party one do the same job, without an edit to core/. The rule: no
// string literal in core/'s non-test Go source equals the name of a
// bundled plugin (a directory under plugins/). Three uses of such a word
// that name no plugin are allowed: the network argument of a Dial, Listen
// or Resolve call ("tcp" is a network there), the value of a log record's
// "part" attribute (the TCP and TLS edges' log names), and route.Kind's
// String (the kinds of name the core's own listeners claim).
func TestLayeringCoreNamesNoPlugin(t *testing.T) {
	entries, err := os.ReadDir("../plugins")
	if err != nil {
		t.Fatal(err)
	}
	bundled := map[string]bool{}
	for _, e := range entries {
		if e.IsDir() {
			bundled[e.Name()] = true
		}
	}
	if len(bundled) < 4 {
		t.Fatalf("found only %d bundled plugins under ../plugins: %v; run the test from policy/ (go test ./policy/), or update this floor if plugins were removed", len(bundled), bundled)
	}
	fset := token.NewFileSet()
	files := 0
	err = filepath.WalkDir("../core", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "testdata" {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		files++
		allowed := map[*ast.BasicLit]bool{}
		ast.Inspect(f, func(n ast.Node) bool {
			// route.Kind names the kinds of the core's own listeners (its
			// TLS passthrough port and TCP listeners), not plugins.
			if fd, ok := n.(*ast.FuncDecl); ok && fd.Name.Name == "String" && fd.Recv != nil && f.Name.Name == "route" {
				if id, ok := fd.Recv.List[0].Type.(*ast.Ident); ok && id.Name == "Kind" {
					ast.Inspect(fd.Body, func(n ast.Node) bool {
						if lit, ok := n.(*ast.BasicLit); ok {
							allowed[lit] = true
						}
						return true
					})
				}
				return true
			}
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			// A Dial, Listen or Resolve call's network argument ("tcp")
			// names a network, not the tcp plugin.
			network := strings.HasPrefix(calleeName(call), "Dial") || strings.HasPrefix(calleeName(call), "Listen") || strings.HasPrefix(calleeName(call), "Resolve")
			for i, arg := range call.Args {
				lit, ok := arg.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				if network {
					allowed[lit] = true
				}
				// A log record's "part" names a part of the core (its TCP
				// and TLS edges), not a plugin.
				if i > 0 {
					if key, ok := call.Args[i-1].(*ast.BasicLit); ok && key.Value == `"part"` {
						allowed[lit] = true
					}
				}
			}
			return true
		})
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING || allowed[lit] {
				return true
			}
			if s, err := strconv.Unquote(lit.Value); err == nil && bundled[s] {
				t.Errorf("%s: names the bundled plugin %q: take what the core needs from the plugin's manifest instead (STYLE.md rule 12)", fset.Position(lit.Pos()), s)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 50 {
		t.Fatalf("checked only %d files under ../core: run the test from policy/ (go test ./policy/), or update this floor if core/ shrank", files)
	}
}

// calleeName is the called function's or method's own name.
func calleeName(call *ast.CallExpr) string {
	switch f := call.Fun.(type) {
	case *ast.Ident:
		return f.Name
	case *ast.SelectorExpr:
		return f.Sel.Name
	}
	return ""
}
