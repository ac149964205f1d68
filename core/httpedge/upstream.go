package httpedge

import (
	"errors"
	"time"

	"github.com/sshgress/sshgress/core/httpedge/forward"
)

// upstreamHintEvery is how often, at most, a tunnel's owner is told why
// TLS to their service fails.
const upstreamHintEvery = 30 * time.Second

// speak sets how ep's forwarding engine talks to the owner's service
// (the --upstream-* flags), before ep is ready. The service's
// certificate is checked for the host it is sent (--host-header), else
// "localhost": the edge never learns the -R target's own name.
func (ep *endpoint) speak(o upstreamOptions) {
	if o.tls != nil && ep.chain != nil {
		if h := ep.chain.HeaderEdits().Host; h != "" {
			o.tls.ServerName = hostName(h)
		}
	}
	switch {
	case o.http2:
		ep.upstream.UseHTTP2(o.tls)
	case o.tls != nil:
		ep.upstream.UseTLS(*o.tls)
	}
}

// hintUpstream tells the owner, at most once per upstreamHintEvery,
// what to change when a request failed for how the edge talks to their
// service (TLS, HTTP/2).
func (ep *endpoint) hintUpstream(err error) {
	var terr forward.HintError
	if !errors.As(err, &terr) {
		return
	}
	now := time.Now().UnixNano()
	last := ep.upHinted.Load()
	if last != 0 && now-last < int64(upstreamHintEvery) {
		return
	}
	if ep.upHinted.CompareAndSwap(last, now) {
		ep.con.Line(terr.Hint())
	}
}
