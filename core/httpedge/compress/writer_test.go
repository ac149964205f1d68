package compress

import (
	"bytes"
	"io"
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
				z := NewWriter(c, &dst)
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
			z := NewWriter(c, &dst)
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

func TestWriterIdentity(t *testing.T) {
	if z := NewWriter(Identity, io.Discard); z != nil {
		t.Fatalf("NewWriter(Identity) = %v, want nil", z)
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
