package forward

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// writeHead writes the request line and header of r to bw (without
// flushing): hop-by-hop headers, Expect and visitor framing headers are
// left out; the upgrade, TE: trailers and the body framing are written as
// the edge decides. Header lines with invalid names or values are dropped.
// A non-nil host replaces r.Host (Upstream.SetRequestHost).
func writeHead(bw *bufio.Writer, r *http.Request, hostOverride *string, hasBody, chunked bool, upType string) {
	bw.WriteString(r.Method)
	bw.WriteByte(' ')
	writeTarget(bw, r.URL.RequestURI())
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	if hostOverride != nil {
		host = *hostOverride
	}
	writeTarget(bw, host)
	bw.WriteString("\r\n")

	conn := r.Header["Connection"]
	for k, vv := range r.Header {
		if HopByHop(conn, k) || requestFraming(k) || !httpguts.ValidHeaderFieldName(k) {
			continue
		}
		writeField(bw, k, vv)
	}
	if upType != "" {
		bw.WriteString("Connection: Upgrade\r\nUpgrade: ")
		bw.WriteString(upType)
		bw.WriteString("\r\n")
	}
	if te := r.Header["Te"]; len(te) > 0 && httpguts.HeaderValuesContainsToken(te, "trailers") {
		bw.WriteString("Te: trailers\r\n")
	}
	switch {
	case chunked:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
		first := true
		for k := range r.Trailer {
			if !httpguts.ValidHeaderFieldName(k) || !forwardTrailer(r.Header, k) {
				continue
			}
			if first {
				bw.WriteString("Trailer: ")
			} else {
				bw.WriteString(", ")
			}
			first = false
			bw.WriteString(k)
		}
		if !first {
			bw.WriteString("\r\n")
		}
	case hasBody:
		bw.WriteString("Content-Length: ")
		var num [20]byte
		bw.Write(strconv.AppendInt(num[:0], r.ContentLength, 10))
		bw.WriteString("\r\n")
	default:
		switch r.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch:
			bw.WriteString("Content-Length: 0\r\n")
		default:
			if _, ok := r.Header["Content-Length"]; ok {
				bw.WriteString("Content-Length: 0\r\n")
			}
		}
	}
	bw.WriteString("\r\n")
}

// writeField writes a header (or trailer) line "k: v" for each value v in
// vv, leaving out values that are not valid in a field (CR, LF, NUL …).
func writeField(bw *bufio.Writer, k string, vv []string) {
	for _, v := range vv {
		if !httpguts.ValidHeaderFieldValue(v) {
			continue
		}
		bw.WriteString(k)
		bw.WriteString(": ")
		bw.WriteString(v)
		bw.WriteString("\r\n")
	}
}

// requestFraming reports whether the request header k is one the edge
// writes itself or drops rather than copying from the visitor.
func requestFraming(k string) bool {
	switch len(k) {
	case 4:
		return strings.EqualFold(k, "Host")
	case 6:
		return strings.EqualFold(k, "Expect")
	case 14:
		return strings.EqualFold(k, "Content-Length")
	}
	return false
}

// writeTarget writes a request target or host, percent-encoding any
// space, control or non-ASCII byte so the request line stays well-formed
// whatever the visitor's protocol let through.
func writeTarget(bw *bufio.Writer, s string) {
	const hex = "0123456789ABCDEF"
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c > ' ' && c < 0x7f {
			continue
		}
		bw.WriteString(s[start:i])
		bw.WriteByte('%')
		bw.WriteByte(hex[c>>4])
		bw.WriteByte(hex[c&0xf])
		start = i + 1
	}
	bw.WriteString(s[start:])
}
