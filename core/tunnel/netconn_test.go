package tunnel

import (
	"net"
	"testing"
	"time"
)

// TestNetConnDeadline: a passed read deadline ends a blocked Read (by
// closing the connection); a cleared one does not fire.
func TestNetConnDeadline(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan struct{})
	go func() {
		defer close(served)
		c, err := ln.Accept()
		if err == nil {
			// Hold the connection open, sending nothing, until the client
			// closes it.
			c.Read(make([]byte, 16))
			c.Read(make([]byte, 16))
			c.Close()
		}
	}()
	defer func() { <-served }()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := NetConn(raw.(*net.TCPConn))
	defer c.Close()
	if c.LocalAddr().String() != "tunnel" || c.RemoteAddr().Network() != "tunnel" {
		t.Errorf("addresses %v %v, want tunnel", c.LocalAddr(), c.RemoteAddr())
	}
	c.SetWriteDeadline(time.Now().Add(time.Millisecond))
	c.SetWriteDeadline(time.Time{}) // cleared before it fires
	time.Sleep(20 * time.Millisecond)
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatalf("Write after a cleared deadline: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	done := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Read past its deadline returned no error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read past its deadline still blocked after 5 s")
	}
}
