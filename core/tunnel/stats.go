package tunnel

import (
	"fmt"
	"sync/atomic"
	"time"
)

// Stats are one tunnel's live counters, shown by the management API and
// the dashboard. The paths that carry traffic update them with one atomic
// add each: no lock, no allocation. The methods are safe on a nil *Stats,
// which counts nothing (test dialers need not keep any).
type Stats struct {
	requests, in, out atomic.Int64
	// meter, when set, is fed the same counts (edge-wide metrics).
	meter Meter
}

// Meter receives what a tunnel's Stats count, summed edge-wide by
// endpoint type (core/metrics.Type). Its methods are called on the
// request and byte paths: they must not allocate or take a shared lock.
type Meter interface {
	Request()
	In(n int)
	Out(n int)
	Response(status int, total, upstream time.Duration)
}

// SetMeter makes s feed m too. It is called once, before the tunnel's
// endpoint is bound, so before any traffic counts.
func (s *Stats) SetMeter(m Meter) {
	if s != nil {
		s.meter = m
	}
}

// Request counts one visitor request (HTTP) or connection (TCP, TLS).
func (s *Stats) Request() {
	if s != nil {
		s.requests.Add(1)
		if s.meter != nil {
			s.meter.Request()
		}
	}
}

// In counts n bytes carried from visitors to the user's service.
func (s *Stats) In(n int) {
	if s != nil && n > 0 {
		s.in.Add(int64(n))
		if s.meter != nil {
			s.meter.In(n)
		}
	}
}

// Out counts n bytes carried from the user's service to visitors.
func (s *Stats) Out(n int) {
	if s != nil && n > 0 {
		s.out.Add(int64(n))
		if s.meter != nil {
			s.meter.Out(n)
		}
	}
}

// Response counts one HTTP answer: its status (0 when the visitor got
// none), how long it took in all, and how much of that the user's service
// took (0 when the edge answered itself). Only the meter keeps it.
func (s *Stats) Response(status int, total, upstream time.Duration) {
	if s != nil && s.meter != nil {
		s.meter.Response(status, total, upstream)
	}
}

// Snapshot is a reading of Stats.
type Snapshot struct {
	Requests, BytesIn, BytesOut int64
}

// Read returns the counters now; zero for a nil *Stats.
func (s *Stats) Read() Snapshot {
	if s == nil {
		return Snapshot{}
	}
	return Snapshot{Requests: s.requests.Load(), BytesIn: s.in.Load(), BytesOut: s.out.Load()}
}

// Size formats a byte count for people: "512 B", "1.5 KiB", "3.2 MiB".
func Size(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	}
}
