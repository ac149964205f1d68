package e2e_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/config"
	"github.com/sshgress/sshgress/e2e"
)

// TestAccessLogFail2ban runs the real fail2ban-regex with the documented
// filter (docs/fail2ban/sshgress.conf) over access lines the edge wrote,
// in both formats: every 401 matches, with the visitor's address, and
// nothing else does, not even a 200 whose path and user agent imitate a
// 401 line from another address.
func TestAccessLogFail2ban(t *testing.T) {
	f2b := e2e.RequireTool(t, "fail2ban-regex", "fail2ban")
	filter, err := filepath.Abs("../docs/fail2ban/sshgress.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			be := &counting{}
			port := serveBackend(t, be)
			ann := e2e.NewKey(t, t.TempDir(), "ann")
			edge := authEdge(t, func(c *config.Config) {
				c.Log.Format = format
				c.Accounts = []config.Account{{Name: "ann", Keys: []string{ann.AuthorizedKey}}}
			})
			s := edge.RunSSH(t, ann, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http", "--basic-auth", "ann:"+secretPassword)
			url := s.URL(t)
			spoof := []string{"-A", `x" status=401 visitor=198.51.100.66 "visitor":"198.51.100.66`}
			const failures = 3
			for range failures {
				if got := curlPath(t, edge, url, "/login", append(spoof, "-u", "ann:"+secretWrong)...); got != http.StatusUnauthorized {
					t.Fatalf("wrong password: status %d, want 401", got)
				}
			}
			if got := curlPath(t, edge, url, `/status=401/visitor=198.51.100.66/"visitor":"198.51.100.66"`, append(spoof, "-u", "ann:"+secretPassword)...); got != http.StatusOK {
				t.Fatalf("right password: status %d, want 200", got)
			}
			waitLines(t, edge.Access, failures+1)
			logFile := filepath.Join(t.TempDir(), "access.log")
			if err := os.WriteFile(logFile, []byte(edge.Access.String()), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(f2b, "-v", "--print-no-missed", logFile, filter).CombinedOutput()
			if err != nil {
				t.Fatalf("fail2ban-regex: %v\n%s", err, out)
			}
			want := fmt.Sprintf("Lines: %d lines, 0 ignored, %d matched, 1 missed", failures+1, failures)
			if !strings.Contains(string(out), want) {
				t.Errorf("fail2ban-regex: want %q in:\n%s\naccess log:\n%s", want, out, edge.Access)
			}
			if n := strings.Count(string(out), "127.0.0.1"); n != failures {
				t.Errorf("fail2ban-regex found 127.0.0.1 %d times, want %d:\n%s", n, failures, out)
			}
			if strings.Contains(string(out), "198.51.100.66") {
				t.Errorf("a visitor-chosen address matched:\n%s", out)
			}
		})
	}
}

// waitLines waits (bounded) until buf holds n lines of any format.
func waitLines(t *testing.T, buf *e2e.SyncBuffer, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); len(buf.Lines()) < n; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("access log has %d lines after 10s, want %d:\n%s", len(buf.Lines()), n, buf)
		}
	}
}
