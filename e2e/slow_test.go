package e2e_test

import (
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/config"
	"github.com/sshgress/sshgress/e2e"
)

var ansi = regexp.MustCompile(`\x1b\[[0-9;]*m`)

// TestSlowlorisHeaders runs Debian's slowhttptest (slow headers) against
// the edge beside real traffic: the real traffic is unaffected, and the
// slow connections are closed by the header read timeout.
func TestSlowlorisHeaders(t *testing.T) {
	e2e.RequireTool(t, "slowhttptest", "slowhttptest")
	_, port := backend(t)
	edge := newEdge(t, func(c *config.Config) { c.HTTP.ReadHeaderTimeout = time.Second })
	key := e2e.NewKey(t, t.TempDir(), "id")
	s := edge.RunSSH(t, key, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http")
	url := s.URL(t)

	tr := startTraffic(edge, url+"/real", 2)
	out, _ := exec.Command("slowhttptest", "-H", "-c", "200", "-i", "1", "-r", "200", "-l", "5", "-p", "3",
		"-u", "http://"+edge.HTTPAddr().String()+"/").CombinedOutput()
	served, failed, worst := tr.Stop()
	text := ansi.ReplaceAllString(string(out), "")
	// slowhttptest stops early with "No open connections left" when the
	// edge has closed every slow connection; otherwise count the closed.
	closed := lastCount(text, "closed")
	if !strings.Contains(text, "No open connections left") && closed < 150 {
		t.Errorf("slowhttptest saw only %d of 200 slow connections closed by the edge:\n%s", closed, text)
	}
	if failed != 0 || served < 20 {
		t.Errorf("real traffic during the attack: %d served, %d failed", served, failed)
	}
	if worst > 3*time.Second {
		t.Errorf("slowest real request took %s during the attack", worst)
	}
}

// lastCount returns the last "name: N" figure in slowhttptest's output.
func lastCount(text, name string) int {
	m := regexp.MustCompile(name+`:\s+(\d+)`).FindAllStringSubmatch(text, -1)
	if len(m) == 0 {
		return -1
	}
	n, _ := strconv.Atoi(m[len(m)-1][1])
	return n
}

// TestSlowBody runs slowhttptest's slow-body attack (R-U-Dead-Yet) at a
// tunnel: the body idle timeout closes the slow uploads, real traffic is
// unaffected.
func TestSlowBody(t *testing.T) {
	e2e.RequireTool(t, "slowhttptest", "slowhttptest")
	_, port := backend(t)
	edge := newEdge(t, func(c *config.Config) { c.HTTP.BodyIdleTimeout = time.Second })
	key := e2e.NewKey(t, t.TempDir(), "id")
	s := edge.RunSSH(t, key, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http")
	url := s.URL(t)
	tr := startTraffic(edge, url+"/real", 1)
	// Through the edge as an HTTP proxy, so the absolute-form requests carry
	// the tunnel's host; each sends a few body bytes every 3 s.
	out, _ := exec.Command("slowhttptest", "-B", "-c", "100", "-i", "3", "-r", "100", "-s", "100000", "-l", "6", "-p", "3",
		"-d", edge.HTTPAddr().String(), "-u", url+"/upload").CombinedOutput()
	served, failed, _ := tr.Stop()
	text := ansi.ReplaceAllString(string(out), "")
	closed := lastCount(text, "closed")
	if !strings.Contains(text, "No open connections left") && closed < 75 {
		t.Errorf("slowhttptest saw only %d of 100 slow uploads closed by the edge:\n%s", closed, text)
	}
	if failed != 0 || served < 20 {
		t.Errorf("real traffic during the attack: %d served, %d failed", served, failed)
	}
}
