// Tests of the sshgress patch: large incoming packets are read into pooled
// buffers that channel reads hand back (packetBufPool).

package ssh

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
)

// gcmPipe returns a client and a server connected over loopback TCP that
// negotiated cipher.
func gcmPipe(t *testing.T, cipher string) (Conn, *server) {
	t.Helper()
	c1, c2, err := netPipe()
	if err != nil {
		t.Fatal(err)
	}
	clientConf := ClientConfig{
		User:            "user",
		HostKeyCallback: InsecureIgnoreHostKey(),
		Config:          Config{Ciphers: []string{cipher}},
	}
	serverConf := ServerConfig{NoClientAuth: true, Config: Config{Ciphers: []string{cipher}}}
	serverConf.AddHostKey(testSigners["ecdsa"])
	done := make(chan *server, 1)
	go func() {
		s, err := newServer(c2, &serverConf)
		if err != nil {
			t.Errorf("server: %v", err)
		}
		done <- s
	}()
	client, _, reqs, err := NewClientConn(c1, "", &clientConf)
	if err != nil {
		t.Fatal(err)
	}
	srv := <-done
	if srv == nil {
		t.FailNow()
	}
	go DiscardRequests(reqs)
	t.Cleanup(func() { client.Close(); srv.Close() })
	return client, srv
}

// TestPooledPacketsIntegrity sends data in writes of every size class
// (below and above the pooled threshold, whole and split packets) on
// several channels at once, with stderr data in between, and reads it back
// in small random pieces, so pooled buffers are released while other
// channels still fill theirs.
func TestPooledPacketsIntegrity(t *testing.T) {
	for _, cipher := range []string{CipherAES128GCM, CipherChaCha20Poly1305, CipherAES128CTR} {
		t.Run(cipher, func(t *testing.T) {
			client, srv := gcmPipe(t, cipher)
			const chans = 4
			var wg sync.WaitGroup
			for i := range chans {
				wg.Add(1)
				go func() {
					defer wg.Done()
					newCh, err := srv.Accept()
					if err != nil {
						t.Errorf("accept: %v", err)
						return
					}
					ch, reqs, err := newCh.Accept()
					if err != nil {
						t.Errorf("accept: %v", err)
						return
					}
					go DiscardRequests(reqs)
					rng := rand.New(rand.NewPCG(uint64(i), 9))
					sum := sha256.New()
					go io.Copy(io.Discard, ch.Stderr())
					buf := make([]byte, 70000)
					for {
						n, err := ch.Read(buf[:1+rng.IntN(len(buf))])
						sum.Write(buf[:n])
						if err == io.EOF {
							break
						}
						if err != nil {
							t.Errorf("read: %v", err)
							return
						}
					}
					ch.SendRequest("sum", false, sum.Sum(nil))
					ch.Close()
				}()
			}
			for i := range chans {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ch, in, err := client.OpenChannel("data", nil)
					if err != nil {
						t.Errorf("open: %v", err)
						return
					}
					rng := rand.New(rand.NewPCG(uint64(i), 7))
					want := sha256.New()
					sizes := []int{1, 100, pooledPacketMin - 100, pooledPacketMin, channelMaxPacket - 1, channelMaxPacket, channelMaxPacket + 1, 3*channelMaxPacket + 17}
					for k := 0; k < 300; k++ {
						p := make([]byte, sizes[rng.IntN(len(sizes))])
						for j := range p {
							p[j] = byte(rng.Uint32())
						}
						want.Write(p)
						if _, err := ch.Write(p); err != nil {
							t.Errorf("write: %v", err)
							return
						}
						if k%50 == 0 {
							ch.Stderr().Write(p)
						}
					}
					ch.CloseWrite()
					if req := <-in; req == nil || req.Type != "sum" || !bytes.Equal(req.Payload, want.Sum(nil)) {
						t.Errorf("channel %d: the data read differs from the data written", i)
					}
					ch.Close()
				}()
			}
			wg.Wait()
		})
	}
}

// TestPooledPacketsAllocation checks that a bulk transfer under AES-GCM
// allocates a small fraction of the bytes moved: the packets' buffers are
// reused instead of allocated and copied per packet.
func TestPooledPacketsAllocation(t *testing.T) {
	if sshgressRace {
		// The race detector enlarges every allocation and makes sync.Pool
		// drop a share of what is put back on purpose; third_party's
		// TestXCryptoForkSSHTests runs this test alone without -race then.
		t.Skip("allocation counts hold only without -race")
	}
	client, srv := gcmPipe(t, CipherAES128GCM)
	const total = 32 << 20
	got := make(chan error, 1)
	go func() {
		newCh, err := srv.Accept()
		if err != nil {
			got <- err
			return
		}
		ch, reqs, err := newCh.Accept()
		if err != nil {
			got <- err
			return
		}
		go DiscardRequests(reqs)
		n, err := io.Copy(io.Discard, ch)
		if err == nil && n != total {
			err = fmt.Errorf("read %d bytes, want %d", n, total)
		}
		got <- err
	}()
	ch, in, err := client.OpenChannel("data", nil)
	if err != nil {
		t.Fatal(err)
	}
	go DiscardRequests(in)
	buf := make([]byte, 1<<20)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for sent := 0; sent < total; sent += len(buf) {
		if _, err := ch.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	ch.CloseWrite()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	// Unpatched, the reading side alone allocates the 32 MiB once more.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > total/4 {
		t.Errorf("moving %d MiB allocated %d KiB; want under %d KiB", total>>20, alloc>>10, total/4>>10)
	}
}
