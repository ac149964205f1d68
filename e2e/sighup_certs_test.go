package e2e_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sshgress/sshgress/e2e"
)

// writeCertPair writes a fresh self-signed certificate for *.localhost and
// its key to dir/name.pem and dir/name-key.pem, and returns the paths.
func writeCertPair(t *testing.T, dir, name string) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{"*.localhost", "localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}

// servedSerial handshakes with the TLS listener on 127.0.0.1:port for
// serverName and returns the serial of the leaf it serves (hex).
func servedSerial(t *testing.T, port, serverName string) string {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", "127.0.0.1:"+port, &tls.Config{ServerName: serverName, InsecureSkipVerify: true}) // the test reads the leaf, it does not trust it
	if err != nil {
		t.Fatalf("TLS handshake with port %s: %v", port, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.Text(16)
}

func serialOf(t *testing.T, certPath string) string {
	t.Helper()
	b, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c.SerialNumber.Text(16)
}

// TestSIGHUPCertificates runs the real binary: after SIGHUP the TLS port
// and the management API serve the certificate files the config now names
// to the next handshake, while a connection through a tunnel made before
// keeps serving; a mismatched pair rejects the file, the log names it, and
// the old certificates stay. A setting that needs a restart is logged per
// key while the rest of the file applies.
func TestSIGHUPCertificates(t *testing.T) {
	_, port := backend(t)
	e2e.RequireSSH(t)
	dir := t.TempDir()
	ann, bob := e2e.NewKey(t, dir, "ann"), e2e.NewKey(t, dir, "bob")
	oldCert, oldKey := writeCertPair(t, dir, "old")
	newCert, newKey := writeCertPair(t, dir, "new")
	otherCert, _ := writeCertPair(t, dir, "other")
	cfgFile := filepath.Join(dir, "sshgress.yaml")
	write := func(cert, key, extra string) {
		t.Helper()
		body := "https:\n  cert_file: " + cert + "\n  key_file: " + key + "\n" +
			"admin:\n  cert_file: " + cert + "\n  key_file: " + key + "\n" +
			"accounts:\n  - name: ann\n    keys: [\"" + ann.AuthorizedKey + "\"]\n" + extra
		if err := os.WriteFile(cfgFile, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(oldCert, oldKey, "")
	he := startHUPEdge(t, cfgFile)
	httpsPort, adminPort := he.port("https"), he.port("admin")
	oldSerial, newSerial := serialOf(t, oldCert), serialOf(t, newCert)
	// A connection through ann's tunnel, kept open across the reloads (the
	// TLS port answers only names it serves).
	edge := &e2e.Edge{SSHPort: he.port("ssh")}
	annS := edge.RunSSH(t, ann, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http")
	host := e2e.Host(annS.URL(t))
	live, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", "127.0.0.1:"+httpsPort, &tls.Config{ServerName: host, InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	liveReader := bufio.NewReader(live)
	liveGet := func(when string) {
		t.Helper()
		live.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := live.Write([]byte("GET /live HTTP/1.1\r\nHost: " + host + "\r\n\r\n")); err != nil {
			t.Fatalf("%s: the connection made before the reload is gone: %v", when, err)
		}
		resp, err := http.ReadResponse(liveReader, nil)
		if err != nil {
			t.Fatalf("%s: no answer on the connection made before the reload: %v", when, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: the connection made before the reload got %d", when, resp.StatusCode)
		}
	}
	liveGet("before SIGHUP")
	for what, p := range map[string]string{"the TLS port": httpsPort, "the management API": adminPort} {
		if got := servedSerial(t, p, host); got != oldSerial {
			t.Fatalf("%s serves serial %s before SIGHUP, want the file's %s", what, got, oldSerial)
		}
	}

	// New files, a new account, and two settings that need a restart.
	bobYAML := "  - name: bob\n    keys: [\"" + bob.AuthorizedKey + "\"]\n"
	write(newCert, newKey, bobYAML+"limits:\n  tunnels_per_account: 3\nplugins:\n  basicauth:\n    enabled: true\n")
	he.hup("config reloaded", 1)
	for what, p := range map[string]string{"the TLS port": httpsPort, "the management API": adminPort} {
		if got := servedSerial(t, p, host); got != newSerial {
			t.Errorf("%s serves serial %s after SIGHUP, want the new file's %s", what, got, newSerial)
		}
	}
	liveGet("after SIGHUP")
	for _, key := range []string{"limits.tunnels_per_account", "plugins.basicauth.enabled"} {
		if want := key + " changed in the file: restart the edge to apply it"; !strings.Contains(he.logs.String(), want) {
			t.Errorf("the log does not say %q:\n%s", want, he.logs)
		}
	}
	if strings.Contains(he.logs.String(), "https.cert_file changed in the file") {
		t.Errorf("the log asks for a restart for https.cert_file, which applied live:\n%s", he.logs)
	}
	// The rest of that file applied: bob's key is in.
	bobS := edge.RunSSH(t, bob, "-R", "80:localhost:"+port, "v2@127.0.0.1", "http")
	bobS.URL(t)

	// A certificate with another's key: the file is rejected, the log
	// names the file, the new certificate stays, bob stays.
	write(otherCert, newKey, "")
	he.hup("config reload rejected", 1)
	if !strings.Contains(he.logs.String(), otherCert) {
		t.Errorf("the rejection does not name %s:\n%s", otherCert, he.logs)
	}
	for what, p := range map[string]string{"the TLS port": httpsPort, "the management API": adminPort} {
		if got := servedSerial(t, p, host); got != newSerial {
			t.Errorf("%s serves serial %s after a rejected file, want the previous %s", what, got, newSerial)
		}
	}
	select {
	case <-bobS.Done():
		t.Fatalf("a rejected file ended bob's session:\n%s", bobS.Stderr)
	case <-time.After(300 * time.Millisecond):
	}
	liveGet("after a rejected file")
}
