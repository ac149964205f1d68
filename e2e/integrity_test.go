package e2e_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sshgress/sshgress/core/config"
	"github.com/sshgress/sshgress/e2e"
)

// integrityBackend serves deterministic bodies, hashes uploads and echoes
// WebSocket messages.
func integrityBackend(t *testing.T) string {
	up := websocket.Upgrader{}
	mux := http.NewServeMux()
	mux.HandleFunc("/bytes", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
		seed, _ := strconv.ParseInt(r.URL.Query().Get("seed"), 10, 64)
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		io.Copy(w, io.LimitReader(&pattern{off: seed}, n))
	})
	mux.HandleFunc("/upload", func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprintf(w, "%d %x", n, h.Sum(nil))
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			mt, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if c.WriteMessage(mt, msg) != nil {
				return
			}
		}
	})
	return serveBackend(t, mux)
}

func openFDs() int {
	ents, _ := os.ReadDir("/proc/self/fd")
	return len(ents)
}

// TestIntegrityUnderLoad: 20 real OpenSSH http tunnels and 4 tcp ones, 5
// concurrent visitors each, for 20 s: downloads of 1 B–1 MiB and uploads
// checked with SHA-256, WebSocket echoes, and TCP echoes of up to 1 MiB.
// Zero mismatched, truncated or failed, and no request resent by the
// client on a second connection; goroutines and file descriptors back to
// their baseline afterwards.
func TestIntegrityUnderLoad(t *testing.T) {
	const tunnels, visitors = 20, 5
	duration := 20 * time.Second
	if testing.Short() {
		duration = 3 * time.Second
	}
	port := integrityBackend(t)
	echoPort, _ := echoServer(t)
	// 24 tunnels from one (anonymous) account: above the default 20.
	edge := endpointEdge(t, func(c *config.Config) { c.Limits.TunnelsPerAccount = 30 })
	key := e2e.NewKey(t, t.TempDir(), "id")
	baseGoroutines, baseFDs := runtime.NumGoroutine(), openFDs()

	var clients []*e2e.SSH
	var urls []string
	for i := range tunnels {
		s := edge.RunSSH(t, key, "-R", fmt.Sprintf("load%d:80:localhost:%s", i, port), "v2@127.0.0.1", "http")
		clients = append(clients, s)
	}
	for _, s := range clients {
		urls = append(urls, s.URL(t))
	}
	// TCP echo tunnels beside the HTTP ones, through the tcp plugin.
	const tcpTunnels = 4
	var tcpAddrs []string
	for range tcpTunnels {
		s := edge.RunSSH(t, key, "-R", "0:localhost:"+echoPort, "v2@127.0.0.1", "tcp")
		clients = append(clients, s)
		tcpAddrs = append(tcpAddrs, tcpAddr(t, s.URL(t)))
	}

	var ok, failed, retried atomic.Int64
	var firstErr, firstRetry atomic.Value
	fail := func(format string, args ...any) {
		failed.Add(1)
		firstErr.CompareAndSwap(nil, fmt.Sprintf(format, args...))
	}
	// A request the client sent on more than one connection was retried
	// by net/http without telling us, after a reused connection failed:
	// the edge closed a keep-alive connection it should have kept (the
	// idle timeout is 120 s, the run 20 s).
	countRetry := func(what string, conns int32) {
		if conns > 1 {
			retried.Add(1)
			firstRetry.CompareAndSwap(nil, fmt.Sprintf("%s took %d connections", what, conns))
		}
	}
	client := edge.Client()
	wsDialer := websocket.Dialer{NetDial: func(network, _ string) (net.Conn, error) {
		return net.Dial(network, edge.HTTPAddr().String())
	}}
	deadline := time.Now().Add(duration)
	var wg sync.WaitGroup
	for ti, url := range urls {
		for v := range visitors {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(ti), uint64(v)))
				for time.Now().Before(deadline) {
					switch rng.IntN(4) {
					case 0, 1: // download
						n := int64(1 + rng.IntN(1<<20))
						seed := rng.Int64N(1 << 30)
						req, _ := http.NewRequest("GET", fmt.Sprintf("%s/bytes?n=%d&seed=%d", url, n, seed), nil)
						resp, conns, err := doCounted(client, req)
						countRetry(fmt.Sprintf("GET %d bytes", n), conns)
						if err != nil {
							fail("GET: %v", err)
							continue
						}
						got := sha256.New()
						m, err := io.Copy(got, resp.Body)
						resp.Body.Close()
						want := sha256.New()
						io.Copy(want, io.LimitReader(&pattern{off: seed}, n))
						if err != nil || m != n || !bytes.Equal(got.Sum(nil), want.Sum(nil)) || resp.StatusCode != 200 {
							fail("GET %d bytes: status %d, read %d, err %v, checksum match %v", n, resp.StatusCode, m, err, bytes.Equal(got.Sum(nil), want.Sum(nil)))
							continue
						}
					case 2: // upload
						n := int64(1 + rng.IntN(1<<20))
						body := make([]byte, n)
						for i := range body {
							body[i] = byte(rng.IntN(256))
						}
						sum := sha256.Sum256(body)
						req, _ := http.NewRequest("POST", url+"/upload", bytes.NewReader(body))
						req.Header.Set("Content-Type", "application/octet-stream")
						resp, conns, err := doCounted(client, req)
						countRetry(fmt.Sprintf("POST %d bytes", n), conns)
						if err != nil {
							fail("POST: %v", err)
							continue
						}
						reply, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						if want := fmt.Sprintf("%d %s", n, hex.EncodeToString(sum[:])); string(reply) != want {
							fail("POST %d bytes: got %q", n, reply)
							continue
						}
					case 3: // WebSocket echo
						ws, _, err := wsDialer.Dial(strings.Replace(url, "http://", "ws://", 1)+"/ws", nil)
						if err != nil {
							fail("ws dial: %v", err)
							continue
						}
						for k := range 5 {
							msg := make([]byte, 1+rng.IntN(64<<10))
							for i := range msg {
								msg[i] = byte(rng.IntN(256))
							}
							ws.WriteMessage(websocket.BinaryMessage, msg)
							_, got, err := ws.ReadMessage()
							if err != nil || !bytes.Equal(got, msg) {
								fail("ws echo %d: %v", k, err)
								break
							}
						}
						ws.Close()
					}
					ok.Add(1)
				}
			}()
		}
	}
	for ti, addr := range tcpAddrs {
		for v := range visitors {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(100+ti), uint64(v)))
				for time.Now().Before(deadline) {
					c, err := net.DialTimeout("tcp", addr, 5*time.Second)
					if err != nil {
						fail("tcp dial: %v", err)
						continue
					}
					msg := make([]byte, 1+rng.IntN(1<<20))
					for i := range msg {
						msg[i] = byte(rng.IntN(256))
					}
					c.SetDeadline(time.Now().Add(30 * time.Second))
					go func() {
						c.Write(msg)
						c.(*net.TCPConn).CloseWrite()
					}()
					got, err := io.ReadAll(c)
					c.Close()
					if err != nil || !bytes.Equal(got, msg) {
						fail("tcp echo of %d bytes: got %d bytes, err %v", len(msg), len(got), err)
						continue
					}
					ok.Add(1)
				}
			}()
		}
	}
	wg.Wait()
	t.Logf("%d exchanges, %d failed, %d retried silently by the client", ok.Load(), failed.Load(), retried.Load())
	if r := retried.Load(); r != 0 {
		t.Errorf("%d requests were retried by the client on a new connection after a reused one failed (first: %v): the edge closes keep-alive connections it should keep", r, firstRetry.Load())
	}
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d exchanges failed; first: %v", n, firstErr.Load())
	}
	if ok.Load() < tunnels*visitors {
		t.Fatalf("only %d exchanges completed", ok.Load())
	}

	for _, s := range clients {
		s.Kill()
	}
	client.CloseIdleConnections()
	settle := time.Now().Add(5 * time.Second)
	for {
		g, fds := runtime.NumGoroutine(), openFDs()
		if edge.HTTP().Routes() == 0 && g <= baseGoroutines+5 && fds <= baseFDs+5 {
			break
		}
		if time.Now().After(settle) {
			t.Fatalf("after the load: %d routes, goroutines %d (baseline %d), fds %d (baseline %d)", edge.HTTP().Routes(), g, baseGoroutines, fds, baseFDs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// doCounted sends req and returns how many connections the transport took
// for it: net/http resends a request whose reused connection failed before
// any response (RFC 9112 §9.3.1) without reporting it, so more than one
// means a silent retry.
func doCounted(client *http.Client, req *http.Request) (*http.Response, int32, error) {
	var conns atomic.Int32
	trace := &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { conns.Add(1) }}
	resp, err := client.Do(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
	return resp, conns.Load(), err
}
