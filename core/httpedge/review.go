package httpedge

import (
	"context"
	"net/http"

	"github.com/sshgress/sshgress/sdk"
)

// identityKey is the context key of the identity a request's middleware
// authenticated, carried to the response phase.
type identityKey struct{}

// withIdentity returns r carrying id for the response phase of ep's
// chain; r itself when there is no phase or no identity (no allocation).
func (ep *endpoint) withIdentity(r *http.Request, id *sdk.Identity) *http.Request {
	if id == nil || !ep.chain.ReviewsResponses() {
		return r
	}
	return r.WithContext(context.WithValue(r.Context(), identityKey{}, id))
}

// reviewResponse is ep's forward.ResponseReview: the chain's response
// phase, with the identity the request's middleware named. An error (a
// plugin down, late or answering nonsense) makes the forwarding engine
// answer 503 with the edge's page, never the unreviewed response.
func (ep *endpoint) reviewResponse(r *http.Request, status int, h http.Header) error {
	id, _ := r.Context().Value(identityKey{}).(*sdk.Identity)
	err := ep.chain.ReviewResponse(r, status, h, id)
	if err != nil {
		ep.edge.log.Warn("response review failed; response refused", "host", ep.host, "err", err)
	}
	return err
}
