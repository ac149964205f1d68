package forward_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/sshgress/sshgress/core/httpedge/forward"
)

func TestUpstreamWebSocket(t *testing.T) {
	upgrader := websocket.Upgrader{}
	e := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		c, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		c.WriteMessage(websocket.TextMessage, []byte("hello"))
		for {
			typ, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(typ, msg); err != nil {
				return
			}
		}
	}, forward.Options{})
	ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(e.url("/ws"), "http"), nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if resp.StatusCode != 101 {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	if _, msg, err := ws.ReadMessage(); err != nil || string(msg) != "hello" {
		t.Fatalf("greeting: got %q, %v", msg, err)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 8<<10)
	for i, msg := range [][]byte{[]byte("one"), big, []byte("three")} {
		typ := websocket.TextMessage
		if len(msg) > 100 {
			typ = websocket.BinaryMessage
		}
		if err := ws.WriteMessage(typ, msg); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		gotTyp, got, err := ws.ReadMessage()
		if err != nil || gotTyp != typ || !bytes.Equal(got, msg) {
			t.Fatalf("echo %d: got type %d, %d bytes, %v; want type %d, %d bytes", i, gotTyp, len(got), err, typ, len(msg))
		}
	}
	ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	ws.Close()
	res := e.result(t)
	if res.status != 101 {
		t.Errorf("Forward returned status %d, want 101", res.status)
	}
	if idle := e.u.IdleCount(); idle != 0 {
		t.Errorf("IdleCount() = %d after an upgrade, want 0", idle)
	}
}

// TestUpstreamSwitchWithBody: an upstream that answers 101 to a request
// with a body (which never asks to switch) is refused with a 502 while the
// visitor is still uploading.
func TestUpstreamSwitchWithBody(t *testing.T) {
	hold := make(chan struct{})
	addr := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		if readHead(br) == nil {
			io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
			<-hold
		}
	})
	defer close(hold)
	e := newTestEdge(t, tcpDial(addr), forward.Options{})
	// A raw visitor that sends the start of the body, then stalls with the
	// connection open.
	c, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\nthe start of a body that then stalls")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || !resp.Close {
		t.Errorf("visitor got %d (Connection: close %v), want 502 with Connection: close", resp.StatusCode, resp.Close)
	}
	if res := e.result(t); res.status != http.StatusBadGateway {
		t.Errorf("Forward returned %d, %v; want 502", res.status, res.err)
	}
}
