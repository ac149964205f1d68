// Package events is the edge's event bus: typed JSON events about tunnels
// (opened, closed and why), sources over the failed-login threshold and
// plugin processes (crashed, restarted), handed to subscribers — the
// operator's webhook (webhook.go) and the admin API's event stream.
//
// Publishing never blocks the path that publishes (an SSH connection's
// control loop, a plugin's supervisor): each subscriber has a bounded
// queue, and an event that finds it full is dropped for that subscriber
// and counted (Subscription.Dropped, and the OnDrop hook the edge points
// at sshgress_events_dropped_total). A slow webhook or a stalled stream
// loses events; it never slows a tunnel.
//
// Events carry no secret: account names, tunnel ids and URLs, client
// addresses, key fingerprints at most — never a flag value, a token or a
// key.
package events

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"
)

// Types of events.
const (
	TunnelOpened    = "tunnel.opened"
	TunnelClosed    = "tunnel.closed"
	AuthFailures    = "auth.failures"
	PluginCrashed   = "plugin.crashed"
	PluginRestarted = "plugin.restarted"
)

// Reasons a tunnel closed (Event.Reason of tunnel.closed).
const (
	// ReasonClientClosed: the owner's ssh client ended the connection or
	// cancelled the forward, or the connection was lost.
	ReasonClientClosed = "client_closed"
	// ReasonTakenOver: a newer connection of the same owner took the name.
	ReasonTakenOver = "taken_over"
	// ReasonEnded: ended through the management API or the dashboard.
	ReasonEnded = "ended_by_operator"
	// ReasonRevoked: the key or the account the connection logged in with
	// was removed.
	ReasonRevoked = "key_revoked"
	// ReasonShutdown: the edge shut down.
	ReasonShutdown = "shutdown"
)

// Event is one thing that happened, as JSON. Fields a type does not use
// are left out.
type Event struct {
	// ID is unique per event (16 hex digits); Publish sets it.
	ID string `json:"id"`
	// Time is when it happened (UTC); Publish sets it when zero.
	Time time.Time `json:"time"`
	// Type is one of the constants above.
	Type string `json:"type"`

	// Account owns the tunnel (tunnel.*). An account's event stream sees
	// only events with its name here.
	Account string `json:"account,omitempty"`
	// TunnelID is the tunnel's id, as the admin API lists it.
	TunnelID string `json:"tunnel_id,omitempty"`
	// TunnelType is its endpoint type ("http", "tcp", ...).
	TunnelType string `json:"tunnel_type,omitempty"`
	// URL is the tunnel's public URL.
	URL string `json:"url,omitempty"`
	// ClientAddr is where the owner's SSH client connected from.
	ClientAddr string `json:"client_addr,omitempty"`
	// Key is the SHA256 fingerprint of the key the owner logged in with.
	Key string `json:"key,omitempty"`
	// Reason says why a tunnel closed (the Reason… constants).
	Reason string `json:"reason,omitempty"`

	// Source is the address whose failed logins reached the threshold
	// (auth.failures).
	Source string `json:"source,omitempty"`
	// Failures is that threshold (limits.failures_before_penalty, or the
	// wrong invite codes allowed); Window the window they fell in.
	Failures int    `json:"failures,omitempty"`
	Window   string `json:"window,omitempty"`
	// Penalty is how long the source is now refused.
	Penalty string `json:"penalty,omitempty"`

	// Plugin names the plugin (plugin.*).
	Plugin string `json:"plugin,omitempty"`
	// OpenTunnels is how many tunnels the plugin served when it crashed;
	// Restarts its restarts so far (plugin.restarted).
	OpenTunnels int   `json:"open_tunnels,omitempty"`
	Restarts    int64 `json:"restarts,omitempty"`
}

// DefaultQueue is a subscription's queue length when Subscribe is given 0.
const DefaultQueue = 256

// Bus hands published events to its subscribers. The zero value is not
// usable; a nil *Bus publishes nothing, so parts built without one need
// no stub.
type Bus struct {
	mu   sync.Mutex
	subs map[*Subscription]struct{}
}

// NewBus returns an empty bus.
func NewBus() *Bus { return &Bus{subs: map[*Subscription]struct{}{}} }

// Subscription is one subscriber's bounded queue.
type Subscription struct {
	bus *Bus
	// account, when not "", keeps only that account's events.
	account string
	ch      chan Event
	onDrop  func()
	dropped int64 // guarded by bus.mu
	closed  bool  // guarded by bus.mu
}

// SubscribeOptions shape a subscription.
type SubscribeOptions struct {
	// Account, when not "", keeps only events of that account (an
	// account token's stream).
	Account string
	// Queue bounds the events waiting for the subscriber. Default
	// DefaultQueue.
	Queue int
	// OnDrop, if set, is called (under the bus's lock: it must only count)
	// for every event dropped because the queue was full.
	OnDrop func()
}

// Subscribe adds a subscriber. It must Close the subscription when done.
func (b *Bus) Subscribe(o SubscribeOptions) *Subscription {
	if o.Queue <= 0 {
		o.Queue = DefaultQueue
	}
	s := &Subscription{bus: b, account: o.Account, ch: make(chan Event, o.Queue), onDrop: o.OnDrop}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s
}

// Publish stamps ev with an id and the time (when not set) and queues it
// for every subscriber that wants it, without ever waiting: a full queue
// drops it for that subscriber and counts the drop.
func (b *Bus) Publish(ev Event) {
	if b == nil {
		return
	}
	if ev.ID == "" {
		var id [8]byte
		rand.Read(id[:])
		ev.ID = hex.EncodeToString(id[:])
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	ev.Time = ev.Time.UTC()
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		if s.account != "" && s.account != ev.Account {
			continue
		}
		select {
		case s.ch <- ev:
		default:
			s.dropped++
			if s.onDrop != nil {
				s.onDrop()
			}
		}
	}
}

// C delivers the subscription's events in the order they were published.
// It is closed by Close.
func (s *Subscription) C() <-chan Event { return s.ch }

// Dropped is how many events this subscription lost to a full queue.
func (s *Subscription) Dropped() int64 {
	s.bus.mu.Lock()
	defer s.bus.mu.Unlock()
	return s.dropped
}

// Close removes the subscription and closes C once the events already
// queued are read. Idempotent.
func (s *Subscription) Close() {
	s.bus.mu.Lock()
	defer s.bus.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	delete(s.bus.subs, s)
	close(s.ch)
}
