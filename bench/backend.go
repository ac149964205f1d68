package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// maxBodyBytes bounds the body the backend will generate for one request.
const maxBodyBytes = 8 << 30

// jsonBytes is the size of the backend's JSON page.
const jsonBytes = 8 << 10

// backend is the local service every tunnel points at: an HTTP server
// (GET /1k answers 1 KiB; GET /bytes?n=N answers N bytes; GET /json an
// 8 KiB JSON page, for --compression) and a TCP
// source that writes tcpBytes to every connection and closes it.
type backend struct {
	httpAddr string
	tcpAddr  string

	srv      *http.Server
	tcpLn    net.Listener
	tcpBytes int64
	chunk    []byte
	json     []byte
	wg       sync.WaitGroup

	// hits counts the GET /1k requests answered, so the pool rows can
	// tell each member's share.
	hits atomic.Int64
}

// startBackend listens on two loopback ports.
func startBackend(tcpBytes int64) (*backend, error) {
	b := &backend{tcpBytes: tcpBytes, chunk: make([]byte, 1<<20), json: jsonPage(jsonBytes)}
	for i := range b.chunk {
		b.chunk[i] = byte('a' + i%26)
	}
	hln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bench: backend http listener: %w", err)
	}
	tln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		hln.Close()
		return nil, fmt.Errorf("bench: backend tcp listener: %w", err)
	}
	b.httpAddr, b.tcpAddr, b.tcpLn = hln.Addr().String(), tln.Addr().String(), tln
	mux := http.NewServeMux()
	one := b.chunk[:1024]
	mux.HandleFunc("GET /1k", func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", "1024")
		w.Write(one)
	})
	mux.HandleFunc("GET "+jsonPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(b.json)))
		w.Write(b.json)
	})
	mux.HandleFunc("GET /bytes", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
		if err != nil || n < 0 || n > maxBodyBytes {
			http.Error(w, "bad n", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		b.write(w, n)
	})
	b.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	b.wg.Add(2)
	go func() {
		defer b.wg.Done()
		_ = b.srv.Serve(hln)
	}()
	go func() {
		defer b.wg.Done()
		b.serveTCP()
	}()
	return b, nil
}

// write sends n bytes from the shared chunk.
func (b *backend) write(w io.Writer, n int64) error {
	for n > 0 {
		c := b.chunk
		if int64(len(c)) > n {
			c = c[:n]
		}
		m, err := w.Write(c)
		n -= int64(m)
		if err != nil {
			return err
		}
	}
	return nil
}

func (b *backend) serveTCP() {
	for {
		c, err := b.tcpLn.Accept()
		if err != nil {
			return
		}
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			defer c.Close()
			// A stalled reader must not hold the goroutine forever.
			c.SetDeadline(time.Now().Add(10 * time.Minute))
			_ = b.write(c, b.tcpBytes)
		}()
	}
}

// close stops both listeners and waits (bounded) for the handlers.
func (b *backend) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = b.srv.Shutdown(ctx)
	_ = b.srv.Close()
	_ = b.tcpLn.Close()
	done := make(chan struct{})
	go func() {
		b.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
}
