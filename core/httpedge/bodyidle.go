package httpedge

import (
	"io"
	"net/http"
	"time"
)

// guardBody makes a visitor's request body fail once no byte of it arrives
// for idle: each read moves the connection's read deadline. Slow-body
// attacks (R-U-Dead-Yet) then cost the edge at most idle per connection,
// while a steady upload of any length and speed goes through.
func guardBody(w http.ResponseWriter, r *http.Request, idle time.Duration) {
	if idle <= 0 || r.Body == nil || r.Body == http.NoBody {
		return
	}
	rc := http.NewResponseController(w)
	if rc.SetReadDeadline(time.Now().Add(idle)) != nil {
		return
	}
	r.Body = &idleBody{ReadCloser: r.Body, rc: rc, idle: idle}
}

type idleBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	idle time.Duration
}

func (b *idleBody) Read(p []byte) (int, error) {
	b.rc.SetReadDeadline(time.Now().Add(b.idle))
	return b.ReadCloser.Read(p)
}
