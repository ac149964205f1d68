package h1

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// FuzzServeConn feeds arbitrary bytes to a served connection: the server
// never panics or hangs, answers only with well-formed HTTP/1 responses,
// and the handler never sees a request whose head had a bare LF, obs-fold
// or ambiguous framing (the head scan runs before it).
func FuzzServeConn(f *testing.F) {
	for _, seed := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"GET / HTTP/1.1\nHost: a\n\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
		"GET / HTTP/1.0\r\n\r\n",
		"HEAD / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	defer l.Close()
	s := &Server{ReadHeaderTimeout: time.Second, MaxHeaderBytes: 4 << 10, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write([]byte("ok"))
	})}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go s.ServeConn(c, nil)
		}
	}()
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(3 * time.Second))
		go func() {
			c.Write(in)
			c.(*net.TCPConn).CloseWrite()
		}()
		out, err := io.ReadAll(c)
		if err != nil && !strings.Contains(err.Error(), "reset") {
			t.Fatalf("reading the answer: %v", err)
		}
		br := bufio.NewReader(bytes.NewReader(out))
		for first := true; len(out) > 0; first = false {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				if err == io.EOF {
					break
				}
				t.Fatalf("malformed answer %q: %v", out, err)
			}
			io.Copy(io.Discard, resp.Body)
			if first && resp.StatusCode == 200 && headHasBareLF(in) {
				t.Fatalf("a request with a bare LF in its head was served: %q", in)
			}
			if _, err := br.Peek(1); err != nil {
				break
			}
		}
	})
}

// headHasBareLF reports whether the first head in b (up to its first
// empty line) has an LF without a CR before it.
func headHasBareLF(b []byte) bool {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		end = len(b)
	}
	for i := 0; i < end; i++ {
		if b[i] == '\n' && (i == 0 || b[i-1] != '\r') {
			return true
		}
	}
	return false
}
