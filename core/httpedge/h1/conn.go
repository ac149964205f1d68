package h1

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
)

// Connection states, for Shutdown.
const (
	stateActive int32 = iota // reading or serving a request
	stateIdle                // waiting for a request's first byte
	stateClosed              // closed by Shutdown while idle
	stateHijacked
)

var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}
	writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4<<10) }}
)

// errHeadTooLarge is returned by connReader once a head passes its limit.
var errHeadTooLarge = errors.New("h1: request head too large")

// conn is one visitor connection.
type conn struct {
	srv    *Server
	rwc    net.Conn
	remote string
	tls    *tls.ConnectionState
	cr     connReader
	br     *bufio.Reader
	bw     *bufio.Writer
	state  atomic.Int32
	// ctx is every request's context: canceled when a read from the
	// visitor fails (it went away) or the connection ends.
	ctx    context.Context
	cancel context.CancelCauseFunc
	w      response // reused by each request
	watch  watcher
}

// connReader is what the connection's bufio.Reader reads from: it bounds
// a request head, feeds the head scan, serves the byte a watcher read
// ahead, and cancels the requests' context when the visitor's side fails.
type connReader struct {
	c       *conn
	remain  int64
	scan    headScan
	hasByte bool
	byteBuf [1]byte
}

func (cr *connReader) Read(p []byte) (int, error) {
	if cr.remain <= 0 {
		return 0, errHeadTooLarge
	}
	if int64(len(p)) > cr.remain {
		p = p[:cr.remain]
	}
	if cr.hasByte {
		p[0] = cr.byteBuf[0]
		cr.hasByte = false
		cr.remain--
		cr.scan.feed(p[:1])
		return 1, nil
	}
	n, err := cr.c.rwc.Read(p)
	cr.remain -= int64(n)
	cr.scan.feed(p[:n])
	if err != nil {
		cr.c.cancel(err)
	}
	return n, err
}

func newConn(s *Server, c net.Conn, tlsState *tls.ConnectionState) *conn {
	cn := &conn{srv: s, rwc: c, remote: c.RemoteAddr().String(), tls: tlsState}
	cn.cr.c = cn
	cn.cr.remain = math.MaxInt64
	cn.ctx, cn.cancel = context.WithCancelCause(context.Background())
	cn.br = readerPool.Get().(*bufio.Reader)
	cn.br.Reset(&cn.cr)
	cn.bw = writerPool.Get().(*bufio.Writer)
	cn.bw.Reset(c)
	cn.w.c = cn
	cn.w.header = make(http.Header)
	cn.watch.init(cn)
	return cn
}

// serve runs requests until the connection is done with.
func (c *conn) serve() {
	hijacked := false
	defer func() {
		if v := recover(); v != nil && v != http.ErrAbortHandler {
			buf := make([]byte, 16<<10)
			buf = buf[:runtime.Stack(buf, false)]
			c.srv.logger().Error("http handler panicked", "visitor", c.remote, "panic", fmt.Sprint(v), "stack", string(buf))
		}
		c.watch.stop()
		c.cancel(errVisitorGone)
		if hijacked || c.state.Load() == stateHijacked {
			return
		}
		_ = c.rwc.Close()
		c.release()
	}()
	for {
		req, ok := c.readRequest()
		if !ok {
			return
		}
		keep := c.handle(req)
		if c.state.Load() == stateHijacked {
			hijacked = true
			return
		}
		if !keep {
			c.closeGently()
			return
		}
	}
}

// release returns the connection's buffers to their pools.
func (c *conn) release() {
	c.br.Reset(nil)
	readerPool.Put(c.br)
	c.bw.Reset(nil)
	writerPool.Put(c.bw)
	c.br, c.bw = nil, nil
}

// readRequest waits for and reads the next request. It answers a request
// refused before the handler itself and then reports !ok, as it does when
// the connection ended or timed out.
func (c *conn) readRequest() (*http.Request, bool) {
	// The head's limit and scan start with the bytes already buffered
	// (a pipelined request), then go on with each read.
	c.cr.remain = int64(c.srv.maxHeaderBytes()) + 4096 - int64(c.br.Buffered())
	c.cr.scan.start()
	buffered, _ := c.br.Peek(c.br.Buffered())
	c.cr.scan.feed(buffered)
	if c.br.Buffered() == 0 {
		c.state.Store(stateIdle)
		_ = c.rwc.SetReadDeadline(time.Now().Add(c.srv.idleTimeout()))
		if _, err := c.br.Peek(1); err != nil {
			return nil, false
		}
		if !c.state.CompareAndSwap(stateIdle, stateActive) {
			return nil, false // Shutdown closed it
		}
	}
	if c.srv.closing.Load() {
		return nil, false
	}
	_ = c.rwc.SetReadDeadline(time.Now().Add(c.srv.readHeaderTimeout()))
	req, err := http.ReadRequest(c.br)
	problem := c.cr.scan.result()
	c.cr.remain = math.MaxInt64
	_ = c.rwc.SetReadDeadline(time.Time{})
	if err != nil {
		switch {
		case errors.Is(err, errHeadTooLarge):
			c.refuse(http.StatusRequestHeaderFieldsTooLarge, "the request head is too large")
		case isQuiet(err):
		case strings.Contains(err.Error(), "unsupported transfer encoding"), strings.Contains(err.Error(), "too many transfer encodings"):
			c.refuse(http.StatusNotImplemented, "unsupported transfer encoding")
		case strings.Contains(err.Error(), "malformed HTTP version"):
			c.refuse(http.StatusHTTPVersionNotSupported, "unsupported HTTP version")
		case problem != "":
			c.refuse(http.StatusBadRequest, "the request head has "+problem)
		default:
			c.refuse(http.StatusBadRequest, badRequestReason(err))
		}
		return nil, false
	}
	if problem != "" {
		c.refuse(http.StatusBadRequest, "the request head has "+problem)
		return nil, false
	}
	if reason, status := checkRequest(req, c.cr.scan.hosts); reason != "" {
		c.refuse(status, reason)
		return nil, false
	}
	req.RemoteAddr = c.remote
	req.TLS = c.tls
	return req.WithContext(c.ctx), true
}

// checkRequest applies net/http's server-side checks that http.ReadRequest
// leaves to the server; it returns a reason to refuse and its status, or
// "" when the request may be handled. hosts is how many Host lines the
// head had (http.ReadRequest keeps only the first, in req.Host).
func checkRequest(req *http.Request, hosts int) (string, int) {
	if req.ProtoMajor != 1 {
		return "unsupported HTTP version", http.StatusHTTPVersionNotSupported
	}
	switch {
	case req.ProtoAtLeast(1, 1) && hosts == 0 && req.Method != http.MethodConnect:
		return "missing required Host header", http.StatusBadRequest
	case hosts > 1:
		return "too many Host headers", http.StatusBadRequest
	case !httpguts.ValidHostHeader(req.Host):
		return "malformed Host header", http.StatusBadRequest
	}
	for k, vv := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return "invalid header name", http.StatusBadRequest
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return "invalid header value", http.StatusBadRequest
			}
		}
	}
	if e := req.Header["Expect"]; len(e) > 0 {
		if len(e) > 1 || !strings.EqualFold(e[0], "100-continue") || !req.ProtoAtLeast(1, 1) {
			return "unsupported Expect header", http.StatusExpectationFailed
		}
	}
	return "", 0
}

// badRequestReason turns a parse error into a short phrase a visitor may
// see: net/http's parser errors name the problem without echoing much of
// the input, but are cut to a line.
func badRequestReason(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "net/http: ")
	msg = strings.TrimPrefix(msg, "http: ")
	if i := strings.IndexAny(msg, "\"\r\n"); i >= 0 {
		msg = msg[:i]
	}
	msg = strings.TrimRight(msg, " :;")
	if len(msg) > 80 {
		msg = msg[:80]
	}
	if msg == "" {
		msg = "malformed request"
	}
	return "malformed request: " + msg
}

// isQuiet reports a read error that ends the connection with no answer:
// the visitor closed, reset or stopped sending.
func isQuiet(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe)
}

// refuse answers a request the handler never sees; the connection closes
// after it.
func (c *conn) refuse(status int, reason string) {
	w := &c.w
	w.reset(nil)
	w.closeAfter = true
	if c.srv.Refuse != nil {
		c.srv.Refuse(w, status, reason)
	} else {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, fmt.Sprintf("%d %s: %s\n", status, http.StatusText(status), reason))
	}
	w.finish()
	c.closeGently()
}

// handle runs one request and finishes its response; it reports whether
// the connection may carry another request.
func (c *conn) handle(req *http.Request) bool {
	w := &c.w
	w.reset(req)
	body := &w.body
	body.reset(c, req)
	if req.Body != http.NoBody {
		req.Body = body
	} else {
		c.watch.arm()
	}
	c.srv.Handler.ServeHTTP(w, req)
	c.watch.stop()
	if c.state.Load() == stateHijacked {
		return false
	}
	w.finish()
	if w.failed || w.closeAfter || req.Close || c.srv.closing.Load() {
		return false
	}
	return body.drain()
}

// closeGently flushes, closes the write side and reads for a short while
// what the visitor still sends, so a response written before the visitor
// finished sending is not destroyed by a reset.
func (c *conn) closeGently() {
	_ = c.bw.Flush()
	type closeWriter interface{ CloseWrite() error }
	if cw, ok := c.rwc.(closeWriter); ok && cw.CloseWrite() == nil {
		_ = c.rwc.SetReadDeadline(time.Now().Add(lingerTime))
		_, _ = io.Copy(io.Discard, io.LimitReader(c.rwc, maxDiscard))
	}
}
