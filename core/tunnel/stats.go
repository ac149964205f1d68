package tunnel

import (
	"fmt"
	"sync/atomic"
)

// Stats are one tunnel's live counters, shown by the management API and
// the dashboard. The paths that carry traffic update them with one atomic
// add each: no lock, no allocation. The methods are safe on a nil *Stats,
// which counts nothing (test dialers need not keep any).
type Stats struct {
	requests, in, out atomic.Int64
}

// Request counts one visitor request (HTTP) or connection (TCP, TLS).
func (s *Stats) Request() {
	if s != nil {
		s.requests.Add(1)
	}
}

// In counts n bytes carried from visitors to the user's service.
func (s *Stats) In(n int) {
	if s != nil && n > 0 {
		s.in.Add(int64(n))
	}
}

// Out counts n bytes carried from the user's service to visitors.
func (s *Stats) Out(n int) {
	if s != nil && n > 0 {
		s.out.Add(int64(n))
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
