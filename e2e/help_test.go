package e2e_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sshgress/sshgress/e2e"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestHelpEndpointPluginsGolden keeps the help text of the endpoint
// commands the bundled tcp and tls plugins provide byte for byte: the
// core builds those commands from the plugins' manifests, and what an SSH
// user reads must not change with where the text lives. The edge's SSH
// port varies per run, so it is written as PORT.
func TestHelpEndpointPluginsGolden(t *testing.T) {
	edge := endpointEdge(t, nil)
	key := e2e.NewKey(t, t.TempDir(), "id")
	for _, tc := range []struct {
		golden string
		words  []string
	}{
		{"help_endpoints_general.golden", []string{"help"}},
		{"help_endpoints_tcp.golden", []string{"tcp", "--help"}},
		{"help_endpoints_tls.golden", []string{"tls", "--help"}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			s := edge.RunSSH(t, key, append([]string{"v2@127.0.0.1"}, tc.words...)...)
			if code := s.Wait(10 * time.Second); code != 0 {
				t.Fatalf("exit %d (-1: still running after 10s), want 0; stderr %q", code, s.Stderr)
			}
			got := strings.ReplaceAll(s.Stdout.String(), "-p "+edge.SSHPort, "-p PORT")
			path := filepath.Join("testdata", tc.golden)
			if *updateGolden {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to record it)", err)
			}
			if got != string(want) {
				t.Errorf("help for %q differs from %s:\ngot:\n%s\nwant:\n%s", strings.Join(tc.words, " "), path, got, want)
			}
		})
	}
}
