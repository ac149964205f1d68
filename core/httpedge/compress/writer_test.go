package compress

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
)

// decode reads a body encoded with c.
func decode(t *testing.T, c Coding, b []byte) []byte {
	t.Helper()
	var r io.Reader
	switch c {
	case Gzip:
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("gzip reader: %v", err)
		}
		r = zr
	case Brotli:
		r = brotli.NewReader(bytes.NewReader(b))
	default:
		t.Fatalf("no decoder for %q", c)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decode %s: %v", c, err)
	}
	return out
}

func TestWriterRoundTrip(t *testing.T) {
	body := []byte(strings.Repeat(`{"id":1,"name":"sshgress","tags":["edge","ssh"]}`, 400))
	for _, c := range []Coding{Gzip, Brotli} {
		t.Run(string(c), func(t *testing.T) {
			for round := range 3 { // the pooled encoder is reused cleanly
				var dst bytes.Buffer
				z := start(t, c, &dst)
				for rest := body; len(rest) > 0; {
					chunk := rest[:min(3000, len(rest))]
					rest = rest[len(chunk):]
					if _, err := z.Write(chunk); err != nil {
						t.Fatalf("write: %v", err)
					}
				}
				if err := z.Close(); err != nil {
					t.Fatalf("close: %v", err)
				}
				z.Release() // after Close: does nothing
				if got := decode(t, c, dst.Bytes()); !bytes.Equal(got, body) {
					t.Fatalf("round %d: decoded %d bytes, want the %d written", round, len(got), len(body))
				}
				if dst.Len() >= len(body)/4 {
					t.Errorf("round %d: %d bytes encoded from %d, want far fewer", round, dst.Len(), len(body))
				}
			}
		})
	}
}

// TestWriterFlush checks that what was written before a Flush can be
// decoded from what reached dst by then: a streamed response stays live.
func TestWriterFlush(t *testing.T) {
	for _, c := range []Coding{Gzip, Brotli} {
		t.Run(string(c), func(t *testing.T) {
			var dst bytes.Buffer
			z := start(t, c, &dst)
			defer z.Release()
			if _, err := z.Write([]byte("data: first event\n\n")); err != nil {
				t.Fatal(err)
			}
			if err := z.Flush(); err != nil {
				t.Fatal(err)
			}
			var r io.Reader
			if c == Gzip {
				zr, err := gzip.NewReader(bytes.NewReader(dst.Bytes()))
				if err != nil {
					t.Fatal(err)
				}
				r = zr
			} else {
				r = brotli.NewReader(bytes.NewReader(dst.Bytes()))
			}
			got := make([]byte, len("data: first event\n\n"))
			if _, err := io.ReadFull(r, got); err != nil {
				t.Fatalf("decode the flushed bytes: %v", err)
			}
			if string(got) != "data: first event\n\n" {
				t.Fatalf("flushed bytes decode to %q", got)
			}
		})
	}
}

// start is Encode's writer for c without a response's rules.
func start(t *testing.T, c Coding, dst io.Writer) *Writer {
	t.Helper()
	if !acquire() {
		t.Fatal("no encoder slot free")
	}
	return newWriter(c, dst)
}

func TestWriterIdentity(t *testing.T) {
	if z := start(t, Identity, io.Discard); z != nil {
		t.Fatalf("newWriter(Identity) = %v, want nil", z)
	}
	var z *Writer
	if err := z.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	z.Release()
}

// TestEncodeLimit checks that past MaxEncoders responses at once the next
// is sent plain (its header unchanged but for Vary), and that a slot given
// back serves the next one.
func TestEncodeLimit(t *testing.T) {
	eligible := func() (*http.Request, http.Header) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Accept-Encoding", "gzip")
		return r, http.Header{"Content-Type": {"text/css"}}
	}
	var open []*Writer
	defer func() {
		for _, z := range open {
			z.Release()
		}
		if n := encoders.Load(); n != 0 {
			t.Errorf("%d encoder slots still taken after all were released", n)
		}
	}()
	for range MaxEncoders {
		r, h := eligible()
		z := Encode(r, 200, -1, h, io.Discard)
		if z == nil {
			t.Fatalf("Encode refused below MaxEncoders (%d open)", len(open))
		}
		open = append(open, z)
	}
	r, h := eligible()
	if z := Encode(r, 200, -1, h, io.Discard); z != nil {
		open = append(open, z)
		t.Fatalf("Encode gave a writer past MaxEncoders")
	}
	if h.Get("Content-Encoding") != "" || h.Get("Vary") != "Accept-Encoding" {
		t.Errorf("past the limit: Content-Encoding %q, Vary %q; want none and Accept-Encoding", h.Get("Content-Encoding"), h.Get("Vary"))
	}
	open[0].Close()
	r, h = eligible()
	z := Encode(r, 200, -1, h, io.Discard)
	if z == nil || h.Get("Content-Encoding") != "gzip" {
		t.Fatalf("after one slot was given back: writer %v, Content-Encoding %q", z, h.Get("Content-Encoding"))
	}
	open[0] = z
}
