package certs

import (
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
// file's modification time or size changes. If a reload fails (a
// half-written renewal), the previous certificate stays in use and the
// error is logged.
type FileCert struct {
	certPath, keyPath string
	log               *slog.Logger

	lastCheck atomic.Int64 // unix nanos
	mu        sync.Mutex
	cert      atomic.Pointer[tls.Certificate]
	stamp     string
}

// LoadFileCert loads the pair; a failure here is a start-up error.
func LoadFileCert(certPath, keyPath string, log *slog.Logger) (*FileCert, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &FileCert{certPath: certPath, keyPath: keyPath, log: log}
	if err := f.load(); err != nil {
		return nil, err
	}
	f.lastCheck.Store(time.Now().UnixNano())
	return f, nil
}

func (f *FileCert) fileStamp() string {
	s := ""
	for _, p := range []string{f.certPath, f.keyPath} {
		if st, err := os.Stat(p); err == nil {
			s += fmt.Sprintf("%d/%d;", st.ModTime().UnixNano(), st.Size())
		} else {
			s += "missing;"
		}
	}
	return s
}

func (f *FileCert) load() error {
	stamp := f.fileStamp()
	pair, err := tls.LoadX509KeyPair(f.certPath, f.keyPath)
	if err != nil {
		return fmt.Errorf("certs: https.cert_file/key_file: %w", err)
	}
	f.cert.Store(&pair)
	f.stamp = stamp
	return nil
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
	if f.fileStamp() == f.stamp {
		return
	}
	if err := f.load(); err != nil {
		f.log.Error("certificate files changed but cannot be loaded; keeping the previous certificate", "err", err)
		return
	}
	f.log.Info("certificate files reloaded", "cert_file", f.certPath, "not_after", f.cert.Load().Leaf.NotAfter)
}

// For returns the certificate when it covers the normalised name, else nil.
func (f *FileCert) For(name string) *tls.Certificate {
	f.maybeReload()
	c := f.cert.Load()
	if c.Leaf != nil && c.Leaf.VerifyHostname(name) == nil {
		return c
	}
	return nil
}

// Current returns the certificate in use.
func (f *FileCert) Current() *tls.Certificate {
	f.maybeReload()
	return f.cert.Load()
}
