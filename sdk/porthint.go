package sdk

import (
	"fmt"
	"strconv"
	"strings"
)

// RemotePortHint is the sentence that tells a user who gave a remote port
// an endpoint type does not take how to fix their -R: it keeps the remote
// name they gave and puts want in place of the port. It never suggests a
// local port: an SSH forward request carries only the remote name and
// port, so the edge cannot know the user's local target, and guessing
// (their remote port, say) would point them at the wrong service. The
// local side is shown as LOCALPORT, as in the usage line.
//
// For example RemotePortHint("http", "80, 443 or 0", "", 8080, 80) gives
// `http endpoints listen on remote port 80, 443 or 0, not 8080: change only
// the remote port of your -R and keep its local side, e.g. -R
// 80:localhost:LOCALPORT (LOCALPORT is the port your service listens on;
// ssh does not send it to the edge)`.
func RemotePortHint(command, ports, remoteName string, got uint32, want int) string {
	name := ""
	if n := strings.TrimSuffix(strings.ToLower(remoteName), "."); n != "" && n != "localhost" && n != "*" {
		name = remoteName + ":"
	}
	return fmt.Sprintf("%s endpoints listen on remote port %s, not %d: change only the remote port of your -R and keep its local side, e.g. -R %s%s:localhost:LOCALPORT (LOCALPORT is the port your service listens on; ssh does not send it to the edge)",
		command, ports, got, name, strconv.Itoa(want))
}
