package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// DefaultOrdersPerHour is ACMEOptions.OrdersPerHour when zero; core/config's
// default uses it too.
const DefaultOrdersPerHour = 20

// ACMEOptions turns on automatic certificates.
type ACMEOptions struct {
	// DirectoryURL is the ACME server's directory URL.
	DirectoryURL string
	// Email is the account's contact address; "" for none.
	Email string
	// CARoot is a PEM file of CAs to trust for the ACME server's https;
	// "" uses the system roots.
	CARoot string
	// OrdersPerHour bounds new orders across all names. Default
	// DefaultOrdersPerHour.
	OrdersPerHour int
	// CacheDir keeps the ACME account key and certificates (0700).
	CacheDir string
	// Allow reports whether a certificate may be ordered for the
	// normalised name: the edge allows names an account reserves that are
	// bound to a tunnel right now. Required.
	Allow func(name string) bool
}

// Options configures a Manager. The zero value uses the local CA only.
type Options struct {
	// CertFile and KeyFile are the operator's certificate; both or neither.
	CertFile, KeyFile string
	// ACME, when set, orders certificates for allowed names.
	ACME *ACMEOptions
	// CADir is the local CA's directory; required.
	CADir string
	// PublicPort is the TLS port visitors use, for the start-up hint's
	// https URL (443, or 0 for unknown, is left out).
	PublicPort int
	// Logger receives operator logs.
	Logger *slog.Logger
	// Expiry, if set, is told the expiry of each certificate a handshake
	// gets, by the name it was served for (the edge's metrics). It must
	// not block.
	Expiry func(name string, notAfter time.Time)
	// Order, if set, is told the outcome of each ACME order the manager
	// places or refuses: OrderIssued, OrderFailed or OrderLimited (the
	// edge's metrics). It must not block.
	Order func(result string)
}

// Outcomes of an ACME order, as told to Options.Order.
const (
	// OrderIssued: the ACME server issued a certificate (stored in the
	// cache). A certificate loaded from the cache is no order.
	OrderIssued = "issued"
	// OrderFailed: getting a certificate for a name not known to be
	// issued failed (the ACME server refused, a challenge failed, or the
	// cache could not be read); the local CA's certificate was served.
	OrderFailed = "failed"
	// OrderLimited: https.acme.orders_per_hour was reached, so no order
	// was placed.
	OrderLimited = "limited"
)

// Manager picks a certificate per handshake: the operator's file
// certificate if it covers the name, else an ACME certificate if ACME is on
// and the name is allowed, else one from the local CA.
type Manager struct {
	files *FileCert
	acme  *autocert.Manager
	ca    *LocalCA
	log   *slog.Logger
	limit *orderLimiter
	allow func(string) bool
	// expiry is Options.Expiry.
	expiry func(name string, notAfter time.Time)
	// order is Options.Order, or a no-op.
	order func(result string)

	mu     sync.Mutex
	issued map[string]bool // names autocert has served a certificate for
}

// maxIssued bounds the names remembered as issued.
const maxIssued = 4096

// New prepares the certificate sources. A new local CA is logged with how
// to trust it.
func New(opts Options) (*Manager, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Manager{log: log, expiry: opts.Expiry, order: opts.Order}
	if m.order == nil {
		m.order = func(string) {}
	}
	if opts.CertFile != "" {
		f, err := LoadFileCert("https", opts.CertFile, opts.KeyFile, log)
		if err != nil {
			return nil, err
		}
		m.files = f
	}
	ca, created, err := LoadOrCreateCA(opts.CADir)
	if err != nil {
		return nil, err
	}
	m.ca = ca
	if created {
		log.Info("generated a local CA for https", "root", ca.RootPath())
	}
	if a := opts.ACME; a != nil && a.DirectoryURL != "" {
		if a.Allow == nil {
			return nil, errors.New("certs: acme: no Allow policy")
		}
		if err := m.setupACME(a); err != nil {
			return nil, err
		}
	}
	if m.files == nil && m.acme == nil {
		log.Info(trustHint(ca.RootPath(), opts.PublicPort), "root", ca.RootPath())
	}
	return m, nil
}

// HasFiles reports whether the operator's certificate files are in use
// (https.cert_file): only then can SwapFiles replace them.
func (m *Manager) HasFiles() bool { return m.files != nil }

// SwapFiles makes p (read with ReadPair) the operator's certificate for the
// next handshakes. It is a no-op without certificate files (HasFiles).
func (m *Manager) SwapFiles(p *Pair) {
	if m.files != nil {
		m.files.Swap(p)
	}
}

// trustHint is the start-up line that says how to trust the local CA,
// with a curl command for a tunnel's https URL on port.
func trustHint(root string, port int) string {
	url := "https://NAME"
	if port != 0 && port != 443 {
		url += ":" + strconv.Itoa(port)
	}
	return "https certificates come from the local CA; trust its root to avoid browser warnings, e.g. curl --cacert " + root + " " + url + "/ (NAME is a tunnel's host name)"
}

func (m *Manager) setupACME(a *ACMEOptions) error {
	hc := &http.Client{Timeout: 30 * time.Second}
	if a.CARoot != "" {
		pem, err := os.ReadFile(a.CARoot)
		if err != nil {
			return fmt.Errorf("certs: https.acme.ca_root: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("certs: https.acme.ca_root: %s holds no PEM certificate", a.CARoot)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
		hc.Transport = tr
	}
	if err := os.MkdirAll(a.CacheDir, 0o700); err != nil {
		return fmt.Errorf("certs: acme cache: %w", err)
	}
	per := a.OrdersPerHour
	if per <= 0 {
		per = DefaultOrdersPerHour
	}
	m.limit = newOrderLimiter(per, time.Hour)
	m.issued = map[string]bool{}
	m.allow = a.Allow
	m.acme = &autocert.Manager{
		Prompt: autocert.AcceptTOS,
		Cache:  &orderCountingCache{Cache: autocert.DirCache(a.CacheDir), issued: func() { m.order(OrderIssued) }},
		Email:  a.Email,
		Client: &acme.Client{DirectoryURL: a.DirectoryURL, HTTPClient: hc},
		// Called on every handshake for a name, before autocert's cache.
		HostPolicy: func(_ context.Context, host string) error {
			if !m.allow(host) {
				return fmt.Errorf("certs: acme: %s is not a bound reserved name", host)
			}
			return nil
		},
	}
	return nil
}

// LocalCA returns the local CA.
func (m *Manager) LocalCA() *LocalCA { return m.ca }

// ACMEEnabled reports whether ACME is configured.
func (m *Manager) ACMEEnabled() bool { return m.acme != nil }

// IsChallenge reports whether a ClientHello is an ACME tls-alpn-01
// validation (its only ALPN protocol is acme-tls/1).
func IsChallenge(protos []string) bool {
	return len(protos) == 1 && protos[0] == acme.ALPNProto
}

// GetCertificate is tls.Config.GetCertificate for terminated names. The
// caller has already decided the name is served (unknown names never get
// here), and normalised hello.ServerName.
func (m *Manager) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	c, err := m.certificate(hello)
	if err == nil && c != nil && c.Leaf != nil && m.expiry != nil && !IsChallenge(hello.SupportedProtos) {
		m.expiry(hello.ServerName, c.Leaf.NotAfter)
	}
	return c, err
}

// certificate is GetCertificate's choice of certificate.
func (m *Manager) certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := hello.ServerName
	if IsChallenge(hello.SupportedProtos) {
		if m.acme == nil {
			return nil, errors.New("certs: acme challenge but acme is off")
		}
		return m.acme.GetCertificate(hello)
	}
	if m.files != nil {
		if c := m.files.For(name); c != nil {
			return c, nil
		}
	}
	if m.acme != nil && m.allow(name) {
		c, err := m.acmeCertificate(hello, name)
		if err == nil {
			return c, nil
		}
		m.log.Warn("no ACME certificate; using the local CA", "name", name, "err", err)
	}
	return m.ca.Certificate(name)
}

// acmeCertificate gets name's certificate from autocert. The first request
// for a name since start may place an order (unless autocert's disk cache
// has it), so it takes a token from the orders-per-hour limit.
func (m *Manager) acmeCertificate(hello *tls.ClientHelloInfo, name string) (*tls.Certificate, error) {
	m.mu.Lock()
	known := m.issued[name]
	m.mu.Unlock()
	if !known {
		if !m.limit.take(time.Now()) {
			m.order(OrderLimited)
			return nil, errors.New("certs: acme: order limit reached (https.acme.orders_per_hour)")
		}
		m.log.Info("ordering an ACME certificate (or loading it from the cache)", "name", name)
	}
	c, err := m.acme.GetCertificate(hello)
	if err != nil {
		if !known {
			m.order(OrderFailed)
		}
		return nil, err
	}
	if !known {
		m.mu.Lock()
		if len(m.issued) >= maxIssued {
			clear(m.issued)
		}
		m.issued[name] = true
		m.mu.Unlock()
	}
	return c, nil
}

// HTTPHandler answers ACME http-01 challenges and passes every other
// request to fallback. Without ACME it returns fallback.
func (m *Manager) HTTPHandler(fallback http.Handler) http.Handler {
	if m.acme == nil {
		return fallback
	}
	return m.acme.HTTPHandler(fallback)
}

// NextProtos are the ALPN protocols offered to visitors.
func (m *Manager) NextProtos() []string {
	p := []string{"h2", "http/1.1"}
	if m.acme != nil {
		p = append(p, acme.ALPNProto)
	}
	return slices.Clip(p)
}

// orderLimiter allows n events per window (a sliding log; n is small).
type orderLimiter struct {
	mu     sync.Mutex
	n      int
	window time.Duration
	times  []time.Time
}

func newOrderLimiter(n int, window time.Duration) *orderLimiter {
	return &orderLimiter{n: n, window: window}
}

func (l *orderLimiter) take(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	cut := 0
	for cut < len(l.times) && now.Sub(l.times[cut]) >= l.window {
		cut++
	}
	l.times = l.times[cut:]
	if len(l.times) >= l.n {
		return false
	}
	l.times = append(l.times, now)
	return true
}
