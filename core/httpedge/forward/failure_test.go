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

// TestFailureReachesErrorPage: a request Forward fails itself goes to
// Options.ErrorPage with its Failure, and Forward reports that Failure's
// status; without an ErrorPage the visitor gets a plain-text page.
func TestFailureReachesErrorPage(t *testing.T) {
	for _, tc := range []struct {
		name    string
		method  string
		dialErr error
		want    forward.Failure
	}{
		{"dial fails", "GET", errors.New("connection refused"), forward.UpstreamDown},
		{"channel limit", "GET", tunnel.ErrChannelLimit, forward.Unavailable},
		{"connect", "CONNECT", nil, forward.MethodNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dial := func(context.Context, netip.AddrPort) (tunnel.Conn, error) {
				if tc.dialErr == nil {
					t.Error("dialed for a request that is never forwarded")
					return nil, errors.New("unexpected dial")
				}
				return nil, tc.dialErr
			}
			var got []forward.Failure
			withPage := forward.NewUpstream(dial, forward.Options{ErrorPage: func(w http.ResponseWriter, r *http.Request, f forward.Failure) {
				got = append(got, f)
				w.WriteHeader(f.Status())
			}})
			defer withPage.Close()
			r := httptest.NewRequest(tc.method, "http://app.example.com/", nil)
			w := httptest.NewRecorder()
			status, err := withPage.Forward(w, r, netip.AddrPort{})
			if err == nil || status != tc.want.Status() || len(got) != 1 || got[0] != tc.want {
				t.Errorf("Forward = %d, %v with pages %v; want %d, an error and one %v page", status, err, got, tc.want.Status(), tc.want)
			}

			plain := forward.NewUpstream(dial, forward.Options{})
			defer plain.Close()
			w = httptest.NewRecorder()
			status, _ = plain.Forward(w, httptest.NewRequest(tc.method, "http://app.example.com/", nil), netip.AddrPort{})
			if body := w.Body.String(); status != tc.want.Status() || w.Code != status || !strings.Contains(body, tc.want.String()) {
				t.Errorf("default page: Forward = %d, visitor got %d %q; want %d with %q", status, w.Code, body, tc.want.Status(), tc.want.String())
			}
		})
	}
}
