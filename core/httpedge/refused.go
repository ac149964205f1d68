package httpedge

import (
	"net/http"
	"strconv"
	"time"

	"github.com/sshgress/sshgress/core/pluginhost"
)

// refused answers a request the tunnel's static rules refused (a Refused
// decision) with the edge's page for its status: 403, 429 for a rate
// limit, 503 for a tripped circuit breaker, the last two with the
// decision's Retry-After. It tells the owner why when pluginhost gives a
// line (bounded there: once per rule, once per burst of 429s).
func (ep *endpoint) refused(w http.ResponseWriter, r *http.Request, d pluginhost.Decision, host string) {
	if d.Notice != "" {
		ep.con.Line(d.Notice)
	}
	page := PageForbidden
	switch d.Status {
	case http.StatusTooManyRequests:
		page = PageRateLimited
	case http.StatusServiceUnavailable:
		page = PageCircuitOpen
	}
	if d.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(d.RetryAfter/time.Second)))
	}
	WritePage(w, r, page, host)
}
