package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/sshgress/sshgress/core/events"
	"github.com/sshgress/sshgress/core/usererr"
)

// GET /api/v1/events streams the edge's events as server-sent events
// (text/event-stream): per event "id:", "event:" (its type) and "data:"
// (the same JSON the webhook receives), and a ": heartbeat" comment every
// Config.StreamHeartbeat so a client and the proxies between can tell a quiet
// edge from a dead one. An account token's stream holds only its own
// account's events.
//
// The admin server's write timeout would end a stream 30 s in: this
// handler moves the write deadline forward before each write instead, so
// only a client that stops reading is dropped, after StreamWriteTimeout.
// (net/http clears the read deadline itself once a request without a
// body is read; the handler clears it too, in case one carried a body.) Streams end when the server shuts
// down (EndStreams, registered with http.Server.RegisterOnShutdown), so
// they never hold Shutdown up.

// Stream bounds.
const (
	// StreamHeartbeat is how often a quiet stream gets a comment line
	// (Config.StreamHeartbeat's default).
	StreamHeartbeat = 15 * time.Second
	// StreamWriteTimeout bounds one write to a stream's client.
	StreamWriteTimeout = 30 * time.Second
	// streamQueue bounds the events waiting for one stream's client;
	// more are dropped and counted.
	streamQueue = 256
	// MaxStreams bounds the event streams open at once; more get 429.
	MaxStreams = 32
)

// streams tracks the open event streams and ends them on shutdown.
type streams struct {
	mu   sync.Mutex
	n    int
	stop chan struct{}
	once sync.Once
}

// EndStreams ends every event stream now and refuses new ones: for
// http.Server.RegisterOnShutdown. Idempotent.
func (a *API) EndStreams() { a.streams.once.Do(func() { close(a.streams.stop) }) }

// enter takes a stream slot; false when MaxStreams are open.
func (s *streams) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n >= MaxStreams {
		return false
	}
	s.n++
	return true
}

func (s *streams) leave() {
	s.mu.Lock()
	s.n--
	s.mu.Unlock()
}

func (a *API) streamEvents(w http.ResponseWriter, r *http.Request, s Scope) error {
	if a.cfg.Events == nil {
		return usererr.Wrap(ErrNotFound, "this edge publishes no events")
	}
	select {
	case <-a.streams.stop:
		writeError(w, http.StatusServiceUnavailable, "the edge is shutting down")
		return nil
	default:
	}
	if !a.streams.enter() {
		writeError(w, http.StatusTooManyRequests, fmt.Sprintf("%d event streams are open already, the most this edge serves; close one first", MaxStreams))
		return nil
	}
	defer a.streams.leave()
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Time{}); err != nil {
		return fmt.Errorf("admin: events: lift the read deadline: %w", err)
	}
	sub := a.cfg.Events.Subscribe(events.SubscribeOptions{Account: s.scopeAccount(), Queue: streamQueue, OnDrop: a.cfg.StreamDropped})
	defer sub.Close()

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(format string, args ...any) bool {
		if rc.SetWriteDeadline(time.Now().Add(StreamWriteTimeout)) != nil {
			return false
		}
		if _, err := fmt.Fprintf(w, format, args...); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send(": sshgress events\n\n") {
		return nil
	}
	tick := time.NewTicker(a.cfg.StreamHeartbeat)
	defer tick.Stop()
	for {
		var ok bool
		select {
		case <-r.Context().Done():
			return nil
		case <-a.streams.stop:
			return nil
		case ev, open := <-sub.C():
			if !open {
				return nil
			}
			data, err := json.Marshal(ev)
			if err != nil {
				return nil
			}
			ok = send("id: %s\nevent: %s\ndata: %s\n\n", ev.ID, ev.Type, data)
		case <-tick.C:
			ok = send(": heartbeat\n\n")
		}
		if !ok {
			return nil
		}
	}
}

// scopeAccount is the account whose events a token may see; "" for all.
func (s Scope) scopeAccount() string {
	if s.Operator {
		return ""
	}
	return s.Account
}
