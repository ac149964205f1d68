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
//
// The handler must call the returned restore before it returns: net/http
// decides whether a body left unread makes the connection unusable by
// looking at r.Body's own type, and must see its body there again, or the
// unread rest would be parsed as the next request.
func guardBody(w http.ResponseWriter, r *http.Request, idle time.Duration) (restore func()) {
	if idle <= 0 || r.Body == nil || r.Body == http.NoBody {
		return func() {}
	}
	rc := http.NewResponseController(w)
	if rc.SetReadDeadline(time.Now().Add(idle)) != nil {
		return func() {}
	}
	orig := r.Body
	r.Body = &idleBody{ReadCloser: orig, rc: rc, idle: idle}
	return func() { r.Body = orig }
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
