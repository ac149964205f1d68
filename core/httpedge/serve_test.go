package httpedge

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// firstByteEdge serves an Edge with short timeouts and returns its address.
func firstByteEdge(t *testing.T, header, idle time.Duration) string {
	t.Helper()
	e := New(Options{BaseDomain: "example.test", ReadHeaderTimeout: header, IdleTimeout: idle})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { e.Serve(ln); close(done) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		e.Shutdown(ctx)
		<-done
	})
	return ln.Addr().String()
}

// closedWithin reports whether the server closes c within d.
func closedWithin(c net.Conn, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := c.Read(make([]byte, 1))
	return err == io.EOF
}

// TestFreshConnectionWaitsUnderIdleTimeout: a new connection may start its
// first request later than the header timeout (a preconnect, a client's
// spare connection), as a kept-alive one may start its next.
func TestFreshConnectionWaitsUnderIdleTimeout(t *testing.T) {
	addr := firstByteEdge(t, 200*time.Millisecond, 5*time.Second)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	time.Sleep(600 * time.Millisecond) // three header timeouts
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: nothing.example.test\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("a connection idle past the header timeout before its first request was closed: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("status %d, want the 404 page for a name with no tunnel", resp.StatusCode)
	}
}

// TestFirstRequestHeadStillBounded: once the first byte has come, the
// header timeout bounds the rest of the head (slow headers gain nothing),
// and a connection that never sends anything is closed at the idle timeout.
func TestFirstRequestHeadStillBounded(t *testing.T) {
	addr := firstByteEdge(t, 300*time.Millisecond, 1500*time.Millisecond)

	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	time.Sleep(500 * time.Millisecond)
	io.WriteString(slow, "GET / HTTP/1.1\r\nHost: x")
	start := time.Now()
	if !closedWithin(slow, 3*time.Second) {
		t.Fatal("a connection stalled inside its first request head was not closed")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("stalled head closed after %s, want about the 300ms header timeout", d)
	}

	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	start = time.Now()
	if !closedWithin(idle, 5*time.Second) {
		t.Fatal("a connection that sends nothing was not closed")
	}
	if d := time.Since(start); d < time.Second || d > 3*time.Second {
		t.Errorf("silent connection closed after %s, want about the 1.5s idle timeout", d)
	}
}
