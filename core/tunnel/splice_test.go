package tunnel

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Every splice goroutine a test starts ends with it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// tcpPair returns both ends of one loopback TCP connection.
func tcpPair(t *testing.T) (client, server *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var s net.Conn
	select {
	case s = <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("accept timed out")
	}
	if s == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

// readAll reads c to EOF, bounded by a deadline.
func readAll(t *testing.T, c net.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read: %v (got %q)", err, b)
	}
	return string(b)
}

// TestSpliceReadersHalfClose: bytes already buffered from either side go
// first, a half-close travels each way while the other direction keeps
// flowing, and the counts are what each direction carried, on real
// sockets (the HTTP upgrade's path: buffered readers over both sides).
func TestSpliceReadersHalfClose(t *testing.T) {
	visitor, visitorEdge := tcpPair(t)
	upEdge, service := tcpPair(t)
	// What the edge read ahead of the splice: the visitor's first bytes
	// and the upstream's first reply bytes.
	vr := bufio.NewReader(io.MultiReader(strings.NewReader("early "), visitorEdge))
	ur := bufio.NewReader(io.MultiReader(strings.NewReader("hello "), upEdge))
	type result struct {
		c   Counts
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := SpliceReaders(visitorEdge, vr, upEdge, ur)
		done <- result{c, err}
	}()
	if _, err := visitor.Write([]byte("request")); err != nil {
		t.Fatal(err)
	}
	visitor.CloseWrite()
	if got := readAll(t, service); got != "early request" {
		t.Errorf("service read %q, want %q", got, "early request")
	}
	// The visitor half-closed; the service's answer still goes back.
	if _, err := service.Write([]byte("world")); err != nil {
		t.Fatalf("service write after the visitor's half-close: %v", err)
	}
	service.CloseWrite()
	if got := readAll(t, visitor); got != "hello world" {
		t.Errorf("visitor read %q, want %q", got, "hello world")
	}
	select {
	case r := <-done:
		if r.err != nil {
			t.Errorf("splice error %v, want nil after two clean EOFs", r.err)
		}
		if r.c.In != int64(len("early request")) || r.c.Out != int64(len("hello world")) {
			t.Errorf("counts %+v, want In %d Out %d", r.c, len("early request"), len("hello world"))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("splice did not end after both half-closes")
	}
}

// TestSpliceErrorClosesBoth: when one side fails, the other is closed at
// once instead of waiting for it, and the splice reports the failure.
func TestSpliceErrorClosesBoth(t *testing.T) {
	visitor, visitorEdge := tcpPair(t)
	upEdge, service := tcpPair(t)
	done := make(chan error, 1)
	go func() {
		_, err := Splice(visitorEdge, upEdge)
		done <- err
	}()
	// A reset from the service: the visitor must see its connection end.
	service.SetLinger(0)
	service.Close()
	visitor.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(visitor); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the visitor's connection stayed open after the upstream failed")
		}
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("splice did not end after the upstream failed")
	}
}
