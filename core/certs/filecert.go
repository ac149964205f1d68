package certs

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// reloadEvery bounds how often the certificate files are checked for
// changes (one stat of each file per interval, on a handshake).
const reloadEvery = time.Second

// FileCert is an operator-supplied certificate and key, re-read when either
// file's modification time or size changes, and on Swap (the edge's
// SIGHUP). If a reload fails (a half-written renewal), the previous
// certificate stays in use and the error is logged.
type FileCert struct {
	section string // the config section, "https" or "admin", for messages
	log     *slog.Logger

	lastCheck atomic.Int64 // unix nanos
	mu        sync.Mutex   // guards pair's replacement
	pair      atomic.Pointer[Pair]
}

// Pair is a certificate chain and its key as read from their files: the
// paths, the files' stamps when read, and the parsed certificate.
type Pair struct {
	certPath, keyPath string
	stamp             string
	cert              *tls.Certificate
}

// ReadPair reads and checks a certificate file and its key file (the pair
// must match). section names the config section ("https", "admin") in
// the error, which names both files.
func ReadPair(section, certPath, keyPath string) (*Pair, error) {
	stamp := fileStamp(certPath, keyPath)
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("certs: %s.cert_file %s with %s.key_file %s: %w", section, certPath, section, keyPath, err)
	}
	return &Pair{certPath: certPath, keyPath: keyPath, stamp: stamp, cert: &cert}, nil
}

// LoadFileCert loads the pair; a failure here is a start-up error.
// section is the config section the files come from ("https", "admin").
func LoadFileCert(section, certPath, keyPath string, log *slog.Logger) (*FileCert, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p, err := ReadPair(section, certPath, keyPath)
	if err != nil {
		return nil, err
	}
	f := &FileCert{section: section, log: log}
	f.pair.Store(p)
	f.lastCheck.Store(time.Now().UnixNano())
	return f, nil
}

func fileStamp(paths ...string) string {
	s := ""
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil {
			s += fmt.Sprintf("%d/%d;", st.ModTime().UnixNano(), st.Size())
		} else {
			s += "missing;"
		}
	}
	return s
}

// Swap makes p the certificate of the next handshakes; connections already
// up keep theirs. It logs when the certificate or its files changed.
func (f *FileCert) Swap(p *Pair) {
	f.mu.Lock()
	defer f.mu.Unlock()
	old := f.pair.Swap(p)
	if old.certPath != p.certPath || old.keyPath != p.keyPath || !bytes.Equal(old.cert.Leaf.Raw, p.cert.Leaf.Raw) {
		f.log.Info("certificate files reloaded", "cert_file", p.certPath, "serial", p.cert.Leaf.SerialNumber.Text(16), "not_after", p.cert.Leaf.NotAfter)
	}
}

// maybeReload re-reads the files when they changed, at most once per
// reloadEvery.
func (f *FileCert) maybeReload() {
	now := time.Now().UnixNano()
	last := f.lastCheck.Load()
	if now-last < int64(reloadEvery) || !f.lastCheck.CompareAndSwap(last, now) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	cur := f.pair.Load()
	if fileStamp(cur.certPath, cur.keyPath) == cur.stamp {
		return
	}
	p, err := ReadPair(f.section, cur.certPath, cur.keyPath)
	if err != nil {
		f.log.Error("certificate files changed but cannot be loaded; keeping the previous certificate", "err", err)
		return
	}
	f.pair.Store(p)
	f.log.Info("certificate files reloaded", "cert_file", p.certPath, "serial", p.cert.Leaf.SerialNumber.Text(16), "not_after", p.cert.Leaf.NotAfter)
}

// For returns the certificate when it covers the normalised name, else nil.
func (f *FileCert) For(name string) *tls.Certificate {
	c := f.Current()
	if c.Leaf != nil && c.Leaf.VerifyHostname(name) == nil {
		return c
	}
	return nil
}

// Current returns the certificate in use.
func (f *FileCert) Current() *tls.Certificate {
	f.maybeReload()
	return f.pair.Load().cert
}

// GetCertificate serves Current to every handshake: a tls.Config hook for
// a listener with one certificate (the management API's).
func (f *FileCert) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return f.Current(), nil
}
