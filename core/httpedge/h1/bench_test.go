package h1

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"
)

// scriptConn is an in-memory connection that reads the same request n
// times, then EOF, and discards what is written: a server benchmarked on
// it pays for nothing but itself.
type scriptConn struct {
	req  []byte
	n    int
	off  int
	done chan struct{}
	stop chan struct{}
	once sync.Once
}

func newScriptConn(b *testing.B) *scriptConn {
	c := &scriptConn{req: []byte(benchRequest), n: b.N, done: make(chan struct{}), stop: make(chan struct{})}
	b.Cleanup(func() { close(c.stop) })
	return c
}

func (c *scriptConn) Read(p []byte) (int, error) {
	if c.off == len(c.req) {
		if c.n == 0 {
			c.once.Do(func() { close(c.done) })
			<-c.stop // like a visitor that keeps the connection open
			return 0, io.EOF
		}
		c.n--
		c.off = 0
	}
	k := copy(p, c.req[c.off:])
	c.off += k
	return k, nil
}

func (c *scriptConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *scriptConn) Close() error                     { return nil }
func (c *scriptConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *scriptConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9} }
func (c *scriptConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }

var benchBody = make([]byte, 1024)

func benchHandler(w http.ResponseWriter, r *http.Request) {
	w.Header()["Content-Length"] = []string{strconv.Itoa(len(benchBody))}
	w.Write(benchBody)
}

const benchRequest = "GET /1k HTTP/1.1\r\nHost: bench.example.test\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n"

// BenchmarkServe1K: one kept-alive connection, a 1 KiB response per
// request, through this package's loop; compare allocs/op with
// BenchmarkNetHTTPServe1K.
func BenchmarkServe1K(b *testing.B) {
	c := newScriptConn(b)
	s := &Server{Handler: http.HandlerFunc(benchHandler)}
	b.ReportAllocs()
	b.ResetTimer()
	go s.ServeConn(c, nil)
	<-c.done
}

// oneConnListener returns one connection, then blocks until closed.
type oneConnListener struct {
	c    net.Conn
	once sync.Once
	stop chan struct{}
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	var c net.Conn
	l.once.Do(func() { c = l.c })
	if c != nil {
		return c, nil
	}
	<-l.stop
	return nil, net.ErrClosed
}
func (l *oneConnListener) Close() error   { return nil }
func (l *oneConnListener) Addr() net.Addr { return &net.TCPAddr{} }

// BenchmarkNetHTTPServe1K is BenchmarkServe1K through net/http's server.
func BenchmarkNetHTTPServe1K(b *testing.B) {
	c := newScriptConn(b)
	l := &oneConnListener{c: c, stop: make(chan struct{})}
	defer close(l.stop)
	srv := &http.Server{Handler: http.HandlerFunc(benchHandler)}
	b.ReportAllocs()
	b.ResetTimer()
	go srv.Serve(l)
	<-c.done
}
