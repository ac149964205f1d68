package tunnel

import (
	"testing"
	"time"
)

// meterCounts is a Meter that records what it is fed.
type meterCounts struct {
	requests, in, out, responses int
	lastStatus                   int
}

func (m *meterCounts) Request()  { m.requests++ }
func (m *meterCounts) In(n int)  { m.in += n }
func (m *meterCounts) Out(n int) { m.out += n }
func (m *meterCounts) Response(status int, _, _ time.Duration) {
	m.responses++
	m.lastStatus = status
}

// TestStatsFeedMeter: with a meter set, every count reaches it as well as
// the tunnel's own counters; without one, and on a nil *Stats, nothing
// breaks.
func TestStatsFeedMeter(t *testing.T) {
	var s Stats
	s.Request()
	s.Response(200, time.Millisecond, 0) // no meter yet: dropped
	m := &meterCounts{}
	s.SetMeter(m)
	s.Request()
	s.In(5)
	s.Out(7)
	s.In(0)
	s.Response(401, time.Millisecond, 0)
	if got, want := *m, (meterCounts{requests: 1, in: 5, out: 7, responses: 1, lastStatus: 401}); got != want {
		t.Errorf("meter got %+v, want %+v", got, want)
	}
	if got, want := s.Read(), (Snapshot{Requests: 2, BytesIn: 5, BytesOut: 7}); got != want {
		t.Errorf("stats %+v, want %+v", got, want)
	}
	var nilStats *Stats
	nilStats.SetMeter(m)
	nilStats.Request()
	nilStats.Response(200, 0, 0)
}
