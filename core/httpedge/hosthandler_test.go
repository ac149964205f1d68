package httpedge

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestHostHandlers: a system host with a handler is served by it; a host
// with a handler but not reserved is not.
func TestHostHandlers(t *testing.T) {
	own := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "dashboard sees "+r.Header.Get("X-Forwarded-For"))
	})
	e := New(Options{
		BaseDomain:   "example.com",
		SystemHosts:  []string{"dashboard.example.com"},
		HostHandlers: map[string]http.Handler{"dashboard.example.com": own, "other.example.com": own},
	})
	for _, tc := range []struct {
		host       string
		wantStatus int
		wantBody   string
	}{
		{"dashboard.example.com", 200, "dashboard sees "},
		{"Dashboard.Example.com.", 200, "dashboard sees "},
		{"other.example.com", 404, ""},
	} {
		t.Run(tc.host, func(t *testing.T) {
			r := httptest.NewRequest("GET", "https://"+tc.host+"/", nil)
			r.Header.Set("X-Forwarded-For", "6.6.6.6")
			r.TLS = &tls.ConnectionState{ServerName: tc.host}
			w := httptest.NewRecorder()
			e.ServeHTTP(w, r)
			if w.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d", w.Code, tc.wantStatus)
			}
			if tc.wantBody != "" && w.Body.String() != tc.wantBody {
				t.Errorf("body %q, want %q (visitor's X-Forwarded-For stripped)", w.Body.String(), tc.wantBody)
			}
		})
	}
}
