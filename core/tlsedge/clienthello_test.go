package tlsedge

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"slices"
	"testing"
	"time"
)

// recordHello returns the bytes crypto/tls's client sends first.
func recordHello(t testing.TB, sni string, alpn []string) []byte {
	t.Helper()
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	go func() {
		cl := tls.Client(c1, &tls.Config{ServerName: sni, NextProtos: alpn, InsecureSkipVerify: true})
		cl.Handshake()
	}()
	c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	var buf bytes.Buffer
	b := make([]byte, 64<<10)
	for {
		n, err := c2.Read(b)
		buf.Write(b[:n])
		if raw, _, err := ReadClientHello(bytes.NewReader(buf.Bytes()), 1<<20); err == nil {
			return raw
		}
		if err != nil {
			t.Fatalf("record hello: %v", err)
		}
	}
}

// stdlibHello asks crypto/tls's server what it makes of raw.
func stdlibHello(raw []byte) (*tls.ClientHelloInfo, bool) {
	var got *tls.ClientHelloInfo
	errStop := errors.New("stop")
	srv := tls.Server(&replayConn{r: bytes.NewReader(raw)}, &tls.Config{
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			got = h
			return nil, errStop
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	srv.HandshakeContext(ctx)
	return got, got != nil
}

func TestReadClientHello(t *testing.T) {
	for _, tc := range []struct {
		sni  string
		alpn []string
	}{
		{"app.example.org", []string{"h2", "http/1.1"}},
		{"x.localhost", nil},
		{"", []string{"acme-tls/1"}},
	} {
		t.Run(tc.sni, func(t *testing.T) {
			raw := recordHello(t, tc.sni, tc.alpn)
			got, h, err := ReadClientHello(bytes.NewReader(append(slices.Clone(raw), "trailing"...)), DefaultMaxHello)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, raw) {
				t.Errorf("read %d bytes, want exactly the %d of the hello", len(got), len(raw))
			}
			if h.ServerName != tc.sni || !slices.Equal(h.ALPN, tc.alpn) {
				t.Errorf("got %q %q, want %q %q", h.ServerName, h.ALPN, tc.sni, tc.alpn)
			}
			if _, _, err := ReadClientHello(bytes.NewReader(raw), len(raw)-1); err == nil {
				t.Errorf("max %d: no error for a %d-byte hello", len(raw)-1, len(raw))
			}
		})
	}
	for _, bad := range [][]byte{nil, []byte("GET / HTTP/1.1\r\n\r\n"), {22, 3, 1, 0, 0}, {22, 3, 1, 0xff, 0xff}} {
		if _, _, err := ReadClientHello(bytes.NewReader(bad), DefaultMaxHello); err == nil {
			t.Errorf("ReadClientHello(%q) = nil error", bad)
		}
	}
}

// countingReader counts bytes read.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// FuzzClientHello checks the SNI reader against crypto/tls: whenever
// crypto/tls accepts a ClientHello, the reader finds the same server name
// and ALPN list; and it never reads past its bound.
func FuzzClientHello(f *testing.F) {
	f.Add(recordHello(f, "app.example.org", []string{"h2"}))
	f.Add(recordHello(f, "a.b", nil))
	f.Add([]byte{22, 3, 1, 0, 4, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		const max = 4096
		cr := &countingReader{r: bytes.NewReader(data)}
		raw, h, err := ReadClientHello(cr, max)
		if cr.n > max || len(raw) != cr.n {
			t.Fatalf("read %d bytes (returned %d), bound %d", cr.n, len(raw), max)
		}
		if len(data) > max {
			return
		}
		info, ok := stdlibHello(data)
		if !ok {
			return
		}
		if err != nil {
			t.Fatalf("crypto/tls accepted a hello (SNI %q) that the reader refused: %v", info.ServerName, err)
		}
		if h.ServerName != info.ServerName {
			t.Fatalf("SNI %q, crypto/tls says %q", h.ServerName, info.ServerName)
		}
		if !slices.Equal(h.ALPN, info.SupportedProtos) && len(info.SupportedProtos) <= 32 {
			t.Fatalf("ALPN %q, crypto/tls says %q", h.ALPN, info.SupportedProtos)
		}
	})
}

// replayConn is a net.Conn reading from r and discarding writes.
type replayConn struct {
	r io.Reader
}

func (c *replayConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *replayConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *replayConn) Close() error                     { return nil }
func (c *replayConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *replayConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *replayConn) SetDeadline(time.Time) error      { return nil }
func (c *replayConn) SetReadDeadline(time.Time) error  { return nil }
func (c *replayConn) SetWriteDeadline(time.Time) error { return nil }
