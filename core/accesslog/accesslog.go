// Package accesslog writes the edge's access log: one structured line per
// visitor HTTP request and per TCP or TLS visitor connection, through
// log/slog (text or JSON, like the main log).
//
// It never sees a credential: callers hand it the fields of a Request or
// a Conn, which hold a path without its query and no header but the user
// agent; Authorization and cookies have no field to go into.
//
// A *Log that is nil is the access log turned off (log.access: off):
// Enabled reports false, and callers build nothing, so a request pays one
// nil check. A file destination is opened for appending (0640) and
// reopened by Reopen, which the edge calls on SIGHUP so logrotate's
// postrotate can move the file away.
package accesslog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Destinations of log.access besides a file path.
const (
	// Stderr writes the access log to the edge's standard error, beside
	// the main log (the default).
	Stderr = "stderr"
	// Off turns the access log off.
	Off = "off"
)

// Formats, as log.format names them.
const (
	FormatText = "text"
	FormatJSON = "json"
)

// Bounds on visitor-chosen strings, in bytes: a longer value is cut at a
// character boundary and ends with "…".
const (
	MaxUserAgent = 256
	MaxPath      = 1024
	MaxHost      = 255
)

// FileMode is the permission of an access log file the edge creates: the
// log names visitors' addresses, so other users may not read it.
const FileMode = 0o640

// Message is the slog message of every access line, so a pipeline can
// pick access lines out of a shared stream.
const Message = "access"

// Log is an open access log. Its methods are safe for concurrent use; a
// nil *Log logs nothing.
type Log struct {
	h     slog.Handler
	file  *reopener // nil unless the destination is a file
	batch *batch    // gathers lines before the destination (batch.go)
}

// Open returns the access log for destination (Stderr, Off or a file
// path) in format (FormatText or FormatJSON); stderr is where Stderr
// writes (os.Stderr when nil). Off gives a nil *Log.
func Open(destination, format string, stderr io.Writer) (*Log, error) {
	var w io.Writer
	l := &Log{}
	switch destination {
	case Off:
		return nil, nil
	case Stderr, "":
		w = stderr
		if w == nil {
			w = os.Stderr
		}
	default:
		f, err := openFile(destination)
		if err != nil {
			return nil, err
		}
		l.file = &reopener{path: destination, f: f}
		w = l.file
	}
	l.batch = newBatch(w)
	w = l.batch
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	switch format {
	case FormatJSON:
		l.h = slog.NewJSONHandler(w, opts)
	case FormatText, "":
		l.h = slog.NewTextHandler(w, opts)
	default:
		l.Close()
		return nil, fmt.Errorf("accesslog: format %q: want %s or %s", format, FormatText, FormatJSON)
	}
	return l, nil
}

func openFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, FileMode)
	if err != nil {
		return nil, fmt.Errorf("accesslog: open %s: %w", path, err)
	}
	return f, nil
}

// Enabled reports whether lines are written; false for a nil *Log.
func (l *Log) Enabled() bool { return l != nil }

// Reopen opens the log file again by its path and switches to it, so the
// lines after a rotation go to a new file. On error the old file stays in
// use. A nil *Log, or one writing to stderr, has nothing to reopen.
func (l *Log) Reopen() error {
	if l == nil || l.file == nil {
		return nil
	}
	_ = l.batch.Flush()
	return l.file.reopen()
}

// Flush writes the lines still waiting in the batch (at most FlushAfter
// old). A nil *Log has none.
func (l *Log) Flush() error {
	if l == nil || l.batch == nil {
		return nil
	}
	return l.batch.Flush()
}

// Close writes the waiting lines and closes the log file; later lines
// are dropped. Idempotent.
func (l *Log) Close() error {
	if l == nil {
		return nil
	}
	if l.batch != nil {
		_ = l.batch.Flush()
	}
	if l.file == nil {
		return nil
	}
	return l.file.close()
}

// Request is one visitor HTTP request, as the access log records it.
type Request struct {
	// Tunnel is the tunnel's id; Account its owner's account ("" when
	// anonymous); Type its endpoint type ("http").
	Tunnel, Account, Type string
	// Host is the normalised host the request was routed by.
	Host string
	// Method and Path are the request's; Path must have no query.
	Method, Path string
	// Status is the answer's status; 0 when the visitor got none.
	Status int
	// In and Out count body bytes read from the visitor and written to it.
	In, Out int64
	// Total is the request's whole time; Upstream the user's service's
	// part of it (0 when the edge answered itself).
	Total, Upstream time.Duration
	// Visitor is the visitor's address (the PROXY protocol source when a
	// trusted load balancer sent one).
	Visitor netip.Addr
	// UserAgent is the visitor's User-Agent header.
	UserAgent string
	// Verdict is what the middleware chain decided (Verdict* constants,
	// or RespondVerdict's).
	Verdict string
}

// Verdicts of the middleware chain.
const (
	// VerdictNone: the tunnel has no middleware.
	VerdictNone = "none"
	// VerdictContinue: the chain let the request through after asking.
	VerdictContinue = "continue"
	// VerdictCached: the chain let it through on cached verdicts.
	VerdictCached = "cached"
	// VerdictFailed: a plugin failed; the visitor got 503 (fail closed).
	VerdictFailed = "failed"
	// VerdictEdge: the edge answered before the chain ran (a loop, a
	// tunnel not ready).
	VerdictEdge = "edge"
)

// RespondVerdict is the verdict of a middleware that answered itself
// ("respond 401"), "respond 401 cached" when the answer came from cache.
func RespondVerdict(status int, cached bool) string {
	s := "respond " + strconv.Itoa(status)
	if cached {
		s += " cached"
	}
	return s
}

// Request writes one line for r. It does nothing on a nil *Log.
func (l *Log) Request(r *Request) {
	if l == nil {
		return
	}
	rec := slog.NewRecord(time.Now().UTC(), slog.LevelInfo, Message, 0)
	// The edge's own fields come first and visitor-chosen strings
	// last, so a filter anchored at the start of the line (fail2ban)
	// cannot be fooled by a path or user agent that looks like a field.
	rec.AddAttrs(
		slog.String("kind", "request"),
		slog.Int("status", r.Status),
		slog.String("visitor", visitor(r.Visitor)),
		slog.String("verdict", r.Verdict),
		slog.String("tunnel", r.Tunnel),
		slog.String("account", r.Account),
		slog.String("type", r.Type),
		slog.Int64("bytes_in", r.In),
		slog.Int64("bytes_out", r.Out),
		slog.Float64("duration_ms", ms(r.Total)),
		slog.Float64("upstream_ms", ms(r.Upstream)),
		slog.String("host", Bound(r.Host, MaxHost)),
		slog.String("method", Bound(r.Method, 32)),
		slog.String("path", Bound(stripQuery(r.Path), MaxPath)),
		slog.String("user_agent", Bound(r.UserAgent, MaxUserAgent)),
	)
	l.h.Handle(context.Background(), rec)
}

// Conn is one visitor TCP or TLS connection, as the access log records
// it.
type Conn struct {
	// Tunnel, Account and Type are as in Request; Type is "tcp", "tls" or
	// the plugin's endpoint type.
	Tunnel, Account, Type string
	// Host is the endpoint's public name (the SNI name for tls, the
	// address's host for tcp); Port the public port.
	Host string
	Port int
	// In and Out count bytes from the visitor and to it.
	In, Out int64
	// Total is how long the connection lasted.
	Total time.Duration
	// Visitor is the visitor's address.
	Visitor netip.Addr
	// Verdict is "continue" for a relayed connection, or why it was not
	// (ConnRefused, ConnUnavailable).
	Verdict string
}

// Verdicts of a TCP or TLS connection that was not relayed.
const (
	// ConnRefused: the endpoint's CIDR rules refused the visitor.
	ConnRefused = "refused by cidr rules"
	// ConnUnavailable: the user's service did not answer through the
	// tunnel.
	ConnUnavailable = "upstream unavailable"
)

// Conn writes one line for c. It does nothing on a nil *Log.
func (l *Log) Conn(c *Conn) {
	if l == nil {
		return
	}
	rec := slog.NewRecord(time.Now().UTC(), slog.LevelInfo, Message, 0)
	rec.AddAttrs(
		slog.String("kind", "connection"),
		slog.String("visitor", visitor(c.Visitor)),
		slog.String("verdict", c.Verdict),
		slog.String("tunnel", c.Tunnel),
		slog.String("account", c.Account),
		slog.String("type", c.Type),
		slog.Int64("bytes_in", c.In),
		slog.Int64("bytes_out", c.Out),
		slog.Float64("duration_ms", ms(c.Total)),
		slog.String("host", Bound(c.Host, MaxHost)),
		slog.Int("port", c.Port),
	)
	l.h.Handle(context.Background(), rec)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func visitor(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.Unmap().String()
}

// stripQuery drops anything from the first "?" on, so a caller that
// passes a request URI by mistake still logs no query.
func stripQuery(p string) string {
	if i := strings.IndexByte(p, '?'); i >= 0 {
		return p[:i]
	}
	return p
}

// Bound returns s cut to at most max bytes at a character boundary, with
// invalid UTF-8 replaced, ending in "…" when it was cut.
func Bound(s string, max int) string {
	if len(s) <= max && utf8.ValidString(s) {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= max {
		return s
	}
	const ell = "…"
	cut := max - len(ell)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ell
}

// reopener is a file that can be switched to a new one by its path.
type reopener struct {
	path   string
	mu     sync.Mutex
	f      *os.File
	closed bool
}

var errClosed = errors.New("accesslog: log is closed")

func (r *reopener) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, errClosed
	}
	return r.f.Write(p)
}

func (r *reopener) reopen() error {
	f, err := openFile(r.path)
	if err != nil {
		return err
	}
	r.mu.Lock()
	old := r.f
	if r.closed {
		r.mu.Unlock()
		f.Close()
		return errClosed
	}
	r.f = f
	r.mu.Unlock()
	return old.Close()
}

func (r *reopener) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	return r.f.Close()
}
