package forward_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/sshgress/sshgress/core/httpedge/forward"
	"github.com/sshgress/sshgress/core/tunnel"
)

// TestTryForwardDeclines: a pool member that cannot be reached declines a
// bodyless request without writing a byte, so another member can take it;
// a request with a body is answered as Forward would.
func TestTryForwardDeclines(t *testing.T) {
	down := func(context.Context, netip.AddrPort) (tunnel.Conn, error) {
		return nil, errors.New("channel refused")
	}
	u := forward.NewUpstream(down, forward.Options{})
	defer u.Close()

	for _, tc := range []struct {
		method, body string
		wantDeclined bool
	}{
		{http.MethodGet, "", true},
		{http.MethodHead, "", true},
		{http.MethodPost, "", true},
		{http.MethodPost, "payload", false},
	} {
		t.Run(tc.method+" "+tc.body, func(t *testing.T) {
			var r *http.Request
			if tc.body == "" {
				r = httptest.NewRequest(tc.method, "http://app.localhost/", nil)
			} else {
				r = httptest.NewRequest(tc.method, "http://app.localhost/", strings.NewReader(tc.body))
			}
			w := httptest.NewRecorder()
			status, declined, err := u.TryForward(w, r, netip.MustParseAddrPort("192.0.2.1:4000"))
			if declined != tc.wantDeclined || err == nil {
				t.Fatalf("TryForward = %d, declined %v, %v; want declined %v with an error", status, declined, err, tc.wantDeclined)
			}
			if declined {
				if w.Body.Len() != 0 || len(w.Header()) != 0 || w.Code != http.StatusOK {
					t.Errorf("a declined request wrote to the visitor: %d %v %q", w.Code, w.Header(), w.Body)
				}
				status, _ = u.Unreachable(w, r, err)
			}
			if status != http.StatusBadGateway || w.Code != http.StatusBadGateway {
				t.Errorf("status %d, page %d; want 502 for an unreachable upstream", status, w.Code)
			}
		})
	}
}
