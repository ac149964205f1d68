package httpedge

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestGuardedBodyLeftUnreadClosesTheConnection: a handler that answers
// without reading a large body in full-duplex mode (an upstream that
// answers early) must leave the connection closed after the response. With
// the guard's wrapper still in r.Body, net/http did not see the body was
// left unread, kept the connection, and parsed the rest of the body as the
// next request.
func TestGuardedBodyLeftUnreadClosesTheConnection(t *testing.T) {
	closed := make(chan struct{})
	srv := &http.Server{ConnState: func(_ net.Conn, st http.ConnState) {
		if st == http.StateClosed {
			close(closed)
		}
	}, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer guardBody(w, r, time.Minute)()
		http.NewResponseController(w).EnableFullDuplex()
		io.ReadFull(r.Body, make([]byte, 10))
		w.Header().Set("Content-Length", "2")
		w.Write([]byte("ok"))
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	// The body is a string of requests: if any of it is parsed as one, the
	// server answers it.
	smuggled := strings.Repeat("GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n", 1<<20/36)
	go func() {
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: "+strconv.Itoa(len(smuggled))+"\r\n\r\n")
		io.WriteString(c, smuggled) // fails once the server closes: fine
	}()
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("first response: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("first response: %d", resp.StatusCode)
	}
	if resp2, err := http.ReadResponse(br, nil); err == nil {
		t.Fatalf("the unread body was served as another request: %d after the 200", resp2.StatusCode)
	}
	select { // the server's connection goroutine ends (goleak)
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the server did not close the connection")
	}
}
