package h1

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// pendingMax is how much body a handler may write before the head is sent
// and still get a Content-Length instead of chunking (net/http's
// bufferBeforeChunkingSize).
const pendingMax = 2048

var (
	chunkedValue   = []string{"chunked"}
	closeValue     = []string{"close"}
	keepAliveValue = []string{"keep-alive"}
	zeroLength     = []string{"0"}
)

// response is the http.ResponseWriter of one request; a connection reuses
// its one response for each of its requests.
type response struct {
	c      *conn
	req    *http.Request
	header http.Header
	body   body

	// mu orders the 100 Continue a body read sends (possibly from another
	// goroutine, full duplex) and 1xx heads against the final head.
	mu sync.Mutex

	status      int
	calledFinal bool // WriteHeader was given a final status
	wroteHeader bool // the final head is in bw
	hijacked    bool
	noBody      bool // HEAD, 204 or 304: no body bytes on the wire
	chunked     bool
	closeAfter  bool // the connection closes after this response
	failed      bool // writing to the visitor failed
	cl          int64
	written     int64
	trailers    []string
	pending     []byte
	pendingBuf  [pendingMax]byte
}

var (
	_ http.ResponseWriter = (*response)(nil)
	_ http.Hijacker       = (*response)(nil)
)

func (w *response) reset(req *http.Request) {
	w.req = req
	w.header = make(http.Header)
	w.status = 0
	w.calledFinal, w.wroteHeader, w.hijacked = false, false, false
	w.noBody, w.chunked, w.closeAfter, w.failed = false, false, false, false
	w.cl, w.written = -1, 0
	w.trailers = w.trailers[:0]
	w.pending = w.pendingBuf[:0]
}

func (w *response) Header() http.Header { return w.header }

func (w *response) WriteHeader(code int) {
	if w.hijacked || w.calledFinal {
		return
	}
	if code < 100 || code > 999 {
		panic("h1: invalid WriteHeader code " + strconv.Itoa(code))
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		w.writeInformational(code)
		return
	}
	w.calledFinal = true
	w.status = code
	if code == http.StatusNoContent || code == http.StatusNotModified || (w.req != nil && w.req.Method == http.MethodHead) {
		w.noBody = true
	}
}

// writeInformational sends a 1xx head with the current header at once.
func (w *response) writeInformational(code int) {
	if code == http.StatusContinue || (w.req != nil && !w.req.ProtoAtLeast(1, 1)) {
		return // 100 is sent by the first body read; 1.0 has no 1xx
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.wroteHeader {
		return
	}
	bw := w.c.bw
	writeStatusLine(bw, true, code)
	_ = w.header.Write(bw)
	_, _ = bw.WriteString("\r\n")
	w.flushed(bw.Flush())
}

// writeContinue sends 100 Continue, unless the final head went first.
func (w *response) writeContinue() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.wroteHeader || w.failed {
		return
	}
	_, _ = w.c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
	w.flushed(w.c.bw.Flush())
}

func (w *response) Write(p []byte) (int, error) {
	if w.hijacked {
		return 0, http.ErrHijacked
	}
	if !w.calledFinal {
		w.WriteHeader(http.StatusOK)
	}
	if w.status == http.StatusNoContent || w.status == http.StatusNotModified {
		return 0, http.ErrBodyNotAllowed
	}
	if w.noBody { // HEAD: the body is counted, never sent
		w.written += int64(len(p))
		return len(p), nil
	}
	if !w.wroteHeader {
		if _, hasCL := w.header["Content-Length"]; !hasCL && len(w.pending)+len(p) <= pendingMax {
			w.pending = append(w.pending, p...)
			return len(p), nil
		}
		w.writeHead(false)
	}
	return w.writeBody(p)
}

func (w *response) writeBody(p []byte) (int, error) {
	if w.failed {
		return 0, errWriteFailed
	}
	if w.cl >= 0 && w.written+int64(len(p)) > w.cl {
		return 0, http.ErrContentLength
	}
	if len(p) == 0 {
		return 0, nil
	}
	w.written += int64(len(p))
	bw := w.c.bw
	if w.chunked {
		var size [16]byte
		_, _ = bw.Write(strconv.AppendInt(size[:0], int64(len(p)), 16))
		_, _ = bw.WriteString("\r\n")
	}
	n, err := bw.Write(p)
	if w.chunked && err == nil {
		_, err = bw.WriteString("\r\n")
	}
	if err != nil {
		w.flushed(err)
		return n, err
	}
	return n, nil
}

// errWriteFailed is returned by writes after one to the visitor failed.
var errWriteFailed = errors.New("h1: an earlier write to the visitor failed")

// flushed records a failed write to the visitor: the response cannot
// complete, and the request's context ends (the visitor is gone).
func (w *response) flushed(err error) {
	if err != nil && !w.failed {
		w.failed = true
		w.c.cancel(err)
	}
}

// writeHead puts the final head in bw, with what is pending of the body;
// final says the handler has returned, so the body is all pending.
func (w *response) writeHead(final bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.wroteHeader = true
	h := w.header
	code := w.status
	req := w.req
	proto11 := req == nil || req.ProtoAtLeast(1, 1)
	bodyAllowed := code != http.StatusNoContent && code != http.StatusNotModified && code >= 200

	delete(h, "Transfer-Encoding")
	if v := h["Content-Length"]; len(v) > 0 {
		if n, err := strconv.ParseInt(v[0], 10, 64); err == nil && n >= 0 && len(v) == 1 {
			w.cl = n
		} else {
			delete(h, "Content-Length")
		}
	}
	if code == http.StatusNoContent {
		delete(h, "Content-Length")
		w.cl = -1
	}
	if w.cl < 0 && final && bodyAllowed && (!w.noBody || w.written > 0) {
		n := int64(len(w.pending))
		if w.noBody {
			n = w.written
		}
		w.cl = n
		if n == 0 {
			h["Content-Length"] = zeroLength
		} else {
			h["Content-Length"] = []string{strconv.FormatInt(n, 10)}
		}
	}
	if bodyAllowed && !w.noBody && w.cl < 0 {
		if proto11 {
			w.chunked = true
			h["Transfer-Encoding"] = chunkedValue
		} else {
			w.closeAfter = true // the body ends with the connection
		}
	}
	if w.chunked {
		for _, v := range h["Trailer"] {
			for _, k := range strings.Split(v, ",") {
				if k = textproto.TrimString(k); k != "" {
					w.trailers = append(w.trailers, http.CanonicalHeaderKey(k))
				}
			}
		}
	} else {
		delete(h, "Trailer")
	}
	if w.body.expect {
		w.closeAfter = true // the body never sent is not read either
	}
	if (req != nil && req.Close) || hasToken(h["Connection"], "close") || w.closeAfter || w.c.srv.closing.Load() {
		w.closeAfter = true
		h["Connection"] = closeValue
	} else if !proto11 {
		h["Connection"] = keepAliveValue
	}
	if _, ok := h["Date"]; !ok {
		h["Date"] = dateValue()
	}
	bw := w.c.bw
	writeStatusLine(bw, proto11, code)
	_ = h.Write(bw)
	_, _ = bw.WriteString("\r\n")
	if len(w.pending) > 0 && !w.noBody {
		p := w.pending
		w.pending = w.pendingBuf[:0]
		_, _ = w.writeBody(p)
	}
}

// finish completes the response once the handler has returned.
func (w *response) finish() {
	if w.hijacked {
		return
	}
	if !w.calledFinal {
		w.WriteHeader(http.StatusOK)
	}
	if !w.wroteHeader {
		w.writeHead(true)
	}
	bw := w.c.bw
	if w.chunked && !w.failed {
		_, _ = bw.WriteString("0\r\n")
		w.writeTrailers(bw)
		_, _ = bw.WriteString("\r\n")
	}
	if w.cl >= 0 && w.written < w.cl && !w.noBody {
		w.closeAfter = true // the visitor must see the body cut short
	}
	w.flushed(bw.Flush())
}

func (w *response) writeTrailers(bw *bufio.Writer) {
	t := make(http.Header)
	for _, k := range w.trailers {
		if vv, ok := w.header[k]; ok {
			t[k] = vv
		}
	}
	for k, vv := range w.header {
		if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok {
			t[http.CanonicalHeaderKey(name)] = vv
		}
	}
	if len(t) > 0 {
		_ = t.Write(bw)
	}
}

// FlushError sends the head and what is buffered (http.ResponseController).
func (w *response) FlushError() error {
	if w.hijacked {
		return http.ErrHijacked
	}
	if !w.calledFinal {
		w.WriteHeader(http.StatusOK)
	}
	if !w.wroteHeader {
		w.writeHead(false)
	}
	if w.failed {
		return errWriteFailed
	}
	err := w.c.bw.Flush()
	w.flushed(err)
	return err
}

// Flush is FlushError for http.Flusher.
func (w *response) Flush() { _ = w.FlushError() }

// Hijack hands the connection to the handler (protocol switches); what the
// visitor sent beyond the request is in the returned reader.
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.wroteHeader {
		return nil, nil, errors.New("h1: hijack after the response head was written")
	}
	if w.hijacked {
		return nil, nil, http.ErrHijacked
	}
	c := w.c
	c.watch.stop()
	w.hijacked = true
	c.state.Store(stateHijacked)
	return c.rwc, bufio.NewReadWriter(c.br, c.bw), nil
}

// SetReadDeadline sets the connection's read deadline (ResponseController).
func (w *response) SetReadDeadline(t time.Time) error { return w.c.rwc.SetReadDeadline(t) }

// SetWriteDeadline sets the connection's write deadline (ResponseController).
func (w *response) SetWriteDeadline(t time.Time) error { return w.c.rwc.SetWriteDeadline(t) }

// EnableFullDuplex reports that the body may be read while the response is
// written: this server never consumes the body behind the handler's back.
func (w *response) EnableFullDuplex() error { return nil }

func writeStatusLine(bw *bufio.Writer, proto11 bool, code int) {
	if proto11 {
		_, _ = bw.WriteString("HTTP/1.1 ")
	} else {
		_, _ = bw.WriteString("HTTP/1.0 ")
	}
	var b [8]byte
	_, _ = bw.Write(strconv.AppendInt(b[:0], int64(code), 10))
	_ = bw.WriteByte(' ')
	text := http.StatusText(code)
	if text == "" {
		text = "status code " + strconv.Itoa(code)
	}
	_, _ = bw.WriteString(text)
	_, _ = bw.WriteString("\r\n")
}

// hasToken reports whether a comma-separated header's values name tok.
func hasToken(values []string, tok string) bool {
	for _, v := range values {
		for _, f := range strings.Split(v, ",") {
			if strings.EqualFold(textproto.TrimString(f), tok) {
				return true
			}
		}
	}
	return false
}

type dateEntry struct {
	sec int64
	v   []string
}

var dateCache atomic.Pointer[dateEntry]

// dateValue is the Date header for now, formatted once a second.
func dateValue() []string {
	now := time.Now()
	sec := now.Unix()
	if d := dateCache.Load(); d != nil && d.sec == sec {
		return d.v
	}
	d := &dateEntry{sec: sec, v: []string{now.UTC().Format(http.TimeFormat)}}
	dateCache.Store(d)
	return d.v
}
