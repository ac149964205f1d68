package forward

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/sshgress/sshgress/core/tunnel"
)

// switchProtocols completes a protocol switch (WebSocket and other upgrades):
// it hijacks the visitor's connection, sends it the 101 response and
// splices both connections until both directions end.
func (u *Upstream) switchProtocols(w http.ResponseWriter, r *http.Request, pc *pooledConn, resp *http.Response, upType string, stop func() bool) (int, error) {
	stop() // from here the splice ends with either connection
	got := upgradeType(resp.Header)
	if upType == "" || !strings.EqualFold(got, upType) {
		_ = pc.c.Close()
		return u.failEarly(w, r, BadResponse, fmt.Errorf("forward: upstream switched to protocol %q when %q was requested", got, upType))
	}
	vc, vrw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		_ = pc.c.Close()
		return u.failEarly(w, r, BadResponse, fmt.Errorf("forward: switch protocols: %w", err))
	}
	_ = vc.SetDeadline(time.Time{})
	vrw.Writer.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	_ = resp.Header.Write(vrw.Writer)
	vrw.Writer.WriteString("\r\n")
	if err := vrw.Writer.Flush(); err != nil {
		_ = vc.Close()
		_ = pc.c.Close()
		return http.StatusSwitchingProtocols, fmt.Errorf("forward: write 101 response: %w", err)
	}
	// The visitor's bytes already read sit in vrw.Reader, the upstream's
	// in pc.br: the splice reads through both.
	if _, err := tunnel.SpliceReaders(vc, vrw.Reader, pc.c, pc.br); err != nil {
		return http.StatusSwitchingProtocols, fmt.Errorf("forward: upgraded connection: %w", err)
	}
	return http.StatusSwitchingProtocols, nil
}

// upgradeType returns the protocol a message asks to switch to: the
// Upgrade header when Connection names "upgrade", else "". A value with
// characters outside printable ASCII is ignored.
func upgradeType(h http.Header) string {
	conn := h["Connection"]
	if len(conn) == 0 || !ConnectionHas(conn, "upgrade") {
		return ""
	}
	up := h.Get("Upgrade")
	for i := 0; i < len(up); i++ {
		if up[i] < ' ' || up[i] > '~' {
			return ""
		}
	}
	return up
}
