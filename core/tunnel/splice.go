package tunnel

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// BufferSize is the size of the pooled copy buffers: one per direction of
// a splice, one per HTTP body being copied.
const BufferSize = 32 << 10

// bufPool holds BufferSize copy buffers, shared by every endpoint: a
// stateless cache, not configuration.
var bufPool = sync.Pool{New: func() any { b := make([]byte, BufferSize); return &b }}

// Buffer takes a BufferSize copy buffer from the pool; give it back with
// PutBuffer once nothing refers to it.
func Buffer() *[]byte { return bufPool.Get().(*[]byte) }

// PutBuffer returns a buffer taken with Buffer to the pool.
func PutBuffer(bp *[]byte) { bufPool.Put(bp) }

// Counts are the bytes a spliced connection carried.
type Counts struct {
	// In is visitor to upstream, Out upstream to visitor.
	In, Out int64
}

// Splice moves bytes both ways between a visitor connection and its
// upstream until both directions have ended, then closes both. An EOF in
// one direction is passed on as a half-close (CloseWrite) so the other
// direction keeps flowing; an error in either direction, or a side that
// cannot half-close, closes both at once. Each direction copies through a
// pooled buffer (Copy). The error joins the copy errors of both
// directions (nil when both ended with EOF).
func Splice(visitor net.Conn, up Conn) (Counts, error) {
	return SpliceReaders(visitor, visitor, up, up)
}

// SpliceReaders is Splice reading the visitor through vr and the upstream
// through ur: readers over the two connections that may hold bytes already
// read from them (an HTTP upgrade's buffered readers).
func SpliceReaders(visitor net.Conn, vr io.Reader, up Conn, ur io.Reader) (Counts, error) {
	var c Counts
	var closeOnce sync.Once
	closeBoth := func() {
		closeOnce.Do(func() {
			visitor.Close()
			up.Close()
		})
	}
	var in atomic.Int64
	var inErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		n, err := Copy(up, vr)
		in.Store(n)
		if err != nil {
			inErr = err
			closeBoth()
			return
		}
		if up.CloseWrite() != nil {
			closeBoth()
		}
	}()
	n, err := Copy(visitor, ur)
	c.Out = n
	if err != nil {
		closeBoth()
	} else if cw, ok := visitor.(interface{ CloseWrite() error }); !ok || cw.CloseWrite() != nil {
		closeBoth()
	}
	<-done
	closeBoth()
	c.In = in.Load()
	return c, errors.Join(err, inErr)
}

// Copy copies src to dst with a pooled buffer, never through
// ReaderFrom/WriterTo (which would allocate their own). A clean EOF from
// src returns a nil error.
func Copy(dst io.Writer, src io.Reader) (int64, error) {
	bp := Buffer()
	defer PutBuffer(bp)
	buf := *bp
	var total int64
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			w, werr := dst.Write(buf[:n])
			total += int64(w)
			if werr != nil {
				return total, werr
			}
			if w != n {
				return total, io.ErrShortWrite
			}
		}
		if rerr != nil {
			if errors.Is(rerr, io.EOF) {
				return total, nil
			}
			return total, rerr
		}
	}
}
