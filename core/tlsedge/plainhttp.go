package tlsedge

import (
	"bytes"
	"io"
	"net"
	"strconv"
	"time"
)

// plainHTTPText is the body of the answer to plain HTTP on the TLS port.
const plainHTTPText = "This port speaks HTTPS only: use an https:// URL for this address (plain http:// goes to the edge's HTTP port).\n"

// plainHTTPResponse is the whole answer: a 400 that closes the connection.
var plainHTTPResponse = []byte("HTTP/1.1 400 Bad Request\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Length: " + strconv.Itoa(len(plainHTTPText)) + "\r\n" +
	"Connection: close\r\n" +
	"X-Sshgress-Error: ERR_SSHGRESS_NOT_TLS\r\n" +
	"\r\n" + plainHTTPText)

// plainHTTPLinger bounds the time spent answering plain HTTP on the TLS
// port: the write, then reading what the client still sends so that
// closing does not reset the connection before it read the answer.
const plainHTTPLinger = 2 * time.Second

// httpMethods are the request methods LooksLikeHTTP recognises, each with
// the space that follows it (and the HTTP/2 preface's "PRI *").
var httpMethods = [...]string{"GET ", "HEAD ", "POST ", "PUT ", "DELETE ", "OPTIONS ", "PATCH ", "CONNECT ", "TRACE ", "PRI * "}

// LooksLikeHTTP reports whether b, the first bytes of a connection (at
// least 4), start like a plain HTTP request rather than a TLS record.
func LooksLikeHTTP(b []byte) bool {
	if len(b) < 4 {
		return false
	}
	for _, m := range httpMethods {
		n := min(len(b), len(m))
		if bytes.Equal(b[:n], []byte(m[:n])) {
			return true
		}
	}
	return false
}

// answerPlainHTTP tells a client that sent plain HTTP to the TLS port to
// use https, then closes c. It takes at most plainHTTPLinger and reads at
// most max more bytes.
func answerPlainHTTP(c net.Conn, max int) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(plainHTTPLinger))
	if _, err := c.Write(plainHTTPResponse); err != nil {
		return
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	io.Copy(io.Discard, io.LimitReader(c, int64(max)))
}
