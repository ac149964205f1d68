package httpedge

import (
	"net/http"

	"github.com/sshgress/sshgress/core/pluginhost"
)

// refused answers a request the tunnel's static rules refused (a Refused
// decision) with the edge's 403 page, and tells the owner why the first
// time each rule refuses (pluginhost bounds those lines to one per rule).
func (ep *endpoint) refused(w http.ResponseWriter, r *http.Request, d pluginhost.Decision, host string) {
	if d.Notice != "" {
		ep.con.Line(d.Notice)
	}
	WritePage(w, r, PageForbidden, host)
}
