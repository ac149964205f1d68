package e2e_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/sshgress/sshgress/core/certs"

	"github.com/sshgress/sshgress/core/config"
	"github.com/sshgress/sshgress/e2e"
)

// startPebble runs Let's Encrypt's test ACME server with validation
// always succeeding (no DNS needed) and returns its directory URL, the CA
// file its own https uses, and its management address.
func startPebble(t *testing.T) (dirURL, caRoot, mgmt string) {
	return startPebbleWith(t, pebbleOptions{alwaysValid: true, httpPort: 5002, tlsPort: 5001})
}

// pebbleOptions: whether Pebble skips validation, where it validates
// http-01 and tls-alpn-01, and the DNS server it resolves names with.
type pebbleOptions struct {
	alwaysValid       bool
	httpPort, tlsPort int
	dnsServer         string
}

func startPebbleWith(t *testing.T, o pebbleOptions) (dirURL, caRoot, mgmt string) {
	t.Helper()
	bin := e2e.RequireTool(t, "pebble", "pebble")
	dir := t.TempDir()
	ca, _, err := certs.LoadOrCreateCA(filepath.Join(dir, "ca"))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Certificate("localhost")
	if err != nil {
		t.Fatal(err)
	}
	// Pebble's listener certificate must cover 127.0.0.1 too; issue one
	// through crypto/tls-compatible PEM files of the local CA's leaf.
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeLeaf(t, leaf, certPath, keyPath)
	api, mgmt := "127.0.0.1:"+freePort(t), "127.0.0.1:"+freePort(t)
	cfg := fmt.Sprintf(`{"pebble": {"listenAddress": %q, "managementListenAddress": %q,
		"certificate": %q, "privateKey": %q, "httpPort": %d, "tlsPort": %d,
		"ocspResponderURL": "", "externalAccountBindingRequired": false}}`, api, mgmt, certPath, keyPath, o.httpPort, o.tlsPort)
	cfgPath := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"-config", cfgPath}
	if o.dnsServer != "" {
		args = append(args, "-dnsserver", o.dnsServer)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=100")
	if o.alwaysValid {
		cmd.Env = append(cmd.Env, "PEBBLE_VA_ALWAYS_VALID=1")
	}
	logs := &e2e.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("pebble log:\n%s", logs)
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", api, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble did not listen on %s: %s", api, logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return "https://localhost:" + strings.Split(api, ":")[1] + "/dir", ca.RootPath(), mgmt
}

func writeLeaf(t *testing.T, c *tls.Certificate, certPath, keyPath string) {
	t.Helper()
	var chain []byte
	for _, der := range c.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(certPath, chain, 0o600)
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
}

// pebbleRoots fetches the root Pebble issues from (random per run).
func pebbleRoots(t *testing.T, mgmt, caRoot string) *x509.CertPool {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: e2e.RootPool(t, caRoot)},
	}}
	defer client.CloseIdleConnections()
	port := strings.Split(mgmt, ":")[1]
	pool := x509.NewCertPool()
	for _, path := range []string{"/roots/0", "/intermediates/0"} {
		resp, err := client.Get("https://localhost:" + port + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if path == "/roots/0" && !pool.AppendCertsFromPEM(b) {
			t.Fatalf("pebble %s: no PEM: %q", path, b)
		}
	}
	return pool
}

func TestACMEPebble(t *testing.T) {
	dirURL, caRoot, mgmt := startPebble(t)
	port := protoBackend(t)
	dir := t.TempDir()
	ann := e2e.NewKey(t, dir, "ann")
	edge := newEdge(t, func(c *config.Config) {
		c.Accounts = []config.Account{{Name: "ann", Keys: []string{ann.AuthorizedKey}, Domains: []string{"app.example.org", "idle.example.org"}}}
		c.HTTPS.ACME.DirectoryURL = dirURL
		c.HTTPS.ACME.CARoot = caRoot
		c.HTTPS.ACME.Email = "ops@example.org"
	})
	s := edge.RunSSH(t, ann, "-R", "app.example.org:443:localhost:"+port, "v2@127.0.0.1", "http")
	url := s.URL(t)
	if !strings.HasPrefix(url, "https://app.example.org:") {
		t.Fatalf("url %q", url)
	}

	t.Run("no order for unknown or idle names", func(t *testing.T) {
		for _, sni := range []string{"unknown.example.org", "idle.example.org"} {
			c, err := edge.DialTLS(sni, &tls.Config{InsecureSkipVerify: true})
			if err == nil {
				c.Close()
				t.Errorf("%s: handshake succeeded, want the connection closed", sni)
			}
		}
		if strings.Contains(edge.Logs.String(), "ordering an ACME certificate") {
			t.Fatalf("an order was started:\n%s", edge.Logs)
		}
	})
	t.Run("issued for the bound reserved name", func(t *testing.T) {
		// The first handshake orders the certificate (bounded by the
		// client's timeout); Pebble validates at once.
		c, err := edge.DialTLS("app.example.org", &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		roots := pebbleRoots(t, mgmt, caRoot)
		client := edge.HTTPSClient(t, roots)
		resp, err := client.Get(url + "/")
		if err != nil {
			t.Fatalf("GET with Pebble's root: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(string(b), "proto=https") {
			t.Fatalf("GET = %d %q", resp.StatusCode, b)
		}
		if n := strings.Count(edge.Logs.String(), "ordering an ACME certificate"); n != 1 {
			t.Errorf("%d orders, want 1", n)
		}
		// The order is counted once, as issued (the second handshake came
		// from autocert's memory, which is no order).
		_, body := scrape(t, edge, "/metrics")
		if got := sample(body, `sshgress_acme_orders_total{result="issued"}`); got != 1 {
			t.Errorf(`sshgress_acme_orders_total{result="issued"} = %v, want 1`, got)
		}
		if got := sample(body, `sshgress_acme_orders_total{result="failed"}`); got > 0 {
			t.Errorf(`sshgress_acme_orders_total{result="failed"} = %v, want none`, got)
		}
	})
	t.Run("a browser shows the page with a valid certificate", func(t *testing.T) {
		browser := chromium(t)
		// Pebble's root is random per run.
		home := nssHome(t, pebbleRootPEM(t, mgmt, caRoot))
		_, httpsPort, _ := net.SplitHostPort(edge.HTTPSAddr().String())
		tctx := newBrowser(t, browser,
			chromedp.Flag("host-resolver-rules", "MAP app.example.org 127.0.0.1"),
			chromedp.Env("HOME="+home),
		)
		page := "https://app.example.org:" + httpsPort + "/from-browser"
		err := chromedp.Do(tctx, chromedp.Navigate(page), chromedp.WaitReady(chromedp.CSS("body")))
		var body string
		if err == nil {
			body, err = chromedp.Run(tctx, chromedp.Text(chromedp.CSS("body")))
		}
		if err != nil {
			t.Fatalf("browser: %v", err)
		}
		// A certificate error shows Chromium's interstitial instead.
		if !strings.HasPrefix(strings.TrimSpace(body), "proto=https") {
			t.Fatalf("the browser shows %q, want the tunnel's page over a valid https connection", body)
		}
	})
}

// pebbleRootPEM fetches the PEM of the root Pebble issues from.
func pebbleRootPEM(t *testing.T, mgmt, caRoot string) []byte {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: e2e.RootPool(t, caRoot)},
	}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("https://localhost:" + strings.Split(mgmt, ":")[1] + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}

// TestACMETLSALPN01: Pebble really validates, over tls-alpn-01 only: it
// resolves the name through pebble-challtestsrv's DNS (every name is
// 127.0.0.1) and connects to the edge's shared TLS port, where the edge
// must answer the acme-tls/1 handshake with the challenge certificate. Its
// http-01 port is closed, so an issued certificate proves tls-alpn-01.
func TestACMETLSALPN01(t *testing.T) {
	srv := e2e.RequireTool(t, "pebble-challtestsrv", "pebble")
	dnsAddr, mgmtAddr := "127.0.0.1:"+freePort(t), "127.0.0.1:"+freePort(t)
	dns := exec.Command(srv, "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "", "-dns01", dnsAddr,
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-management", mgmtAddr)
	dnsLogs := &e2e.SyncBuffer{}
	dns.Stdout, dns.Stderr = dnsLogs, dnsLogs
	if err := dns.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		dns.Process.Kill()
		dns.Wait()
		if t.Failed() {
			t.Logf("challtestsrv log:\n%s", dnsLogs)
		}
	})
	httpsPort, closedPort := freePort(t), freePort(t)
	tlsPort, _ := strconv.Atoi(httpsPort)
	httpPort, _ := strconv.Atoi(closedPort)
	dirURL, caRoot, mgmt := startPebbleWith(t, pebbleOptions{httpPort: httpPort, tlsPort: tlsPort, dnsServer: dnsAddr})

	port := protoBackend(t)
	ann := e2e.NewKey(t, t.TempDir(), "ann")
	edge := newEdge(t, func(c *config.Config) {
		c.HTTPS.Addr = "127.0.0.1:" + httpsPort
		c.Accounts = []config.Account{{Name: "ann", Keys: []string{ann.AuthorizedKey}, Domains: []string{"alpn.example.org"}}}
		c.HTTPS.ACME.DirectoryURL = dirURL
		c.HTTPS.ACME.CARoot = caRoot
		c.HTTPS.ACME.Email = "ops@example.org"
	})
	s := edge.RunSSH(t, ann, "-R", "alpn.example.org:443:localhost:"+port, "v2@127.0.0.1", "http")
	url := s.URL(t)

	// The first handshake starts the order; what proves it is a request
	// verified against Pebble's root, retried while Pebble validates.
	if c, err := edge.DialTLS("alpn.example.org", &tls.Config{InsecureSkipVerify: true}); err == nil {
		c.Close()
	}
	client := edge.HTTPSClient(t, pebbleRoots(t, mgmt, caRoot))
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(url + "/")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.HasPrefix(string(b), "proto=https") {
				t.Fatalf("GET = %d %q", resp.StatusCode, b)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no certificate from Pebble's real tls-alpn-01 validation: %v\nedge log:\n%s", err, edge.Logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
