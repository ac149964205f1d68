package sshserver

import "time"

// keepalive tracks the client's answers to keepalive requests; the control
// loop owns it.
type keepalive struct {
	tick     *time.Ticker
	result   chan error
	last     time.Time
	inflight bool
	budget   time.Duration
}

func newKeepalive(interval time.Duration, count int) *keepalive {
	return &keepalive{
		tick:   time.NewTicker(interval),
		result: make(chan error, 1),
		last:   time.Now(),
		budget: time.Duration(count) * interval,
	}
}

// due reports whether the client is still within its silence budget.
func (k *keepalive) due(now time.Time) bool { return now.Sub(k.last) <= k.budget }

func (k *keepalive) stop() { k.tick.Stop() }
