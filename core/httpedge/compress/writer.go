package compress

import (
	"io"
	"sync"
	"sync/atomic"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
)

// The encoders' settings, chosen for speed on a hot path: the edge
// compresses every eligible response of a tunnel as it streams.
const (
	// GzipLevel is klauspost/compress's gzip level: 5, its default
	// speed/size balance (klauspost's gzip, not the standard library's:
	// same format, several times faster at the same level).
	GzipLevel = 5
	// BrotliQuality is brotli's quality, 0 to 11: 4 is about gzip's speed
	// at a smaller size; 11 is for precompressed files, far too slow here.
	BrotliQuality = 4
	// BrotliWindow is log2 of brotli's window, 18 (256 KiB) rather than
	// its default of 22 (4 MiB): it bounds each encoder's memory, and a
	// visitor's decoder needs no more than that either.
	BrotliWindow = 18
)

// MaxEncoders bounds the responses being encoded at once, edge-wide: an
// encoder holds about 1 MiB (gzip) to 2 MiB (brotli) of state while it
// works, so this caps the total near 256 MiB. A response beyond it is
// sent plain, which is always correct.
const MaxEncoders = 128

// encoders counts the Writers in use (acquire, Writer.Release).
var encoders atomic.Int64

// acquire takes one of MaxEncoders slots; false when none is free.
func acquire() bool {
	if encoders.Add(1) > MaxEncoders {
		encoders.Add(-1)
		return false
	}
	return true
}

var (
	gzipPool = sync.Pool{New: func() any {
		w, _ := gzip.NewWriterLevel(nil, GzipLevel) // the level is valid
		return w
	}}
	brotliPool = sync.Pool{New: func() any {
		return brotli.NewWriterOptions(nil, brotli.WriterOptions{Quality: BrotliQuality, LGWin: BrotliWindow})
	}}
)

// encoder is what gzip's and brotli's writers have in common.
type encoder interface {
	io.WriteCloser
	Flush() error
	Reset(io.Writer)
}

// Writer encodes one response body into an underlying writer, with an
// encoder taken from a pool: memory per response is the encoder's state
// (its window and tables), never the body. A nil *Writer does nothing.
// It is not safe for concurrent use.
type Writer struct {
	c   Coding
	enc encoder
}

// newWriter returns a Writer that encodes with c into dst, for a slot
// acquired; nil for Identity. Close or Release must be called once it is
// done with.
func newWriter(c Coding, dst io.Writer) *Writer {
	var enc encoder
	switch c {
	case Gzip:
		enc = gzipPool.Get().(*gzip.Writer)
	case Brotli:
		enc = brotliPool.Get().(*brotli.Writer)
	default:
		encoders.Add(-1)
		return nil
	}
	enc.Reset(dst)
	return &Writer{c: c, enc: enc}
}

// Write encodes p; the encoder writes to dst when its buffer fills, when
// flushed and when closed.
func (z *Writer) Write(p []byte) (int, error) { return z.enc.Write(p) }

// Flush writes what was encoded so far to dst, so that the visitor can
// decode every byte given to Write until now.
func (z *Writer) Flush() error {
	if z == nil {
		return nil
	}
	return z.enc.Flush()
}

// Close ends the encoded stream (writing its trailer to dst) and gives the
// encoder back to its pool. The Writer is not used again.
func (z *Writer) Close() error {
	if z == nil {
		return nil
	}
	err := z.enc.Close()
	z.Release()
	return err
}

// Release gives the encoder and its slot back without ending the stream: for a
// response cut short, whose visitor must see a truncated body. Idempotent;
// after Close it does nothing.
func (z *Writer) Release() {
	if z == nil || z.enc == nil {
		return
	}
	z.enc.Reset(io.Discard) // drop dst and anything still buffered
	switch e := z.enc.(type) {
	case *gzip.Writer:
		gzipPool.Put(e)
	case *brotli.Writer:
		brotliPool.Put(e)
	}
	z.enc = nil
	encoders.Add(-1)
}
