package httpedge

import (
	"net/http"

	"github.com/sshgress/sshgress/core/pluginhost"
)

// WriteDecision sends a middleware's own response (401, 302 to a
// provider, …) as the edge does for a tunnel, for system hosts whose
// handler runs a middleware chain itself (the dashboard's sign-in).
func WriteDecision(w http.ResponseWriter, d pluginhost.Decision) { writeVerdict(w, d) }
