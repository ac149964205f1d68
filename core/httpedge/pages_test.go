package httpedge

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sshgress/sshgress/core/httpedge/forward"
)

func TestWritePage(t *testing.T) {
	const hostile = `<script>alert("x")</script>'&.example.com`
	for _, tc := range []struct {
		name       string
		page       Page
		method     string
		accept     string
		host       string
		wantType   string
		wantIn     []string
		wantNotIn  []string
		retryAfter string
	}{
		{
			name: "html escapes the host", page: PageNoTunnel, method: "GET",
			accept: "text/html,application/xhtml+xml", host: hostile,
			wantType:  "text/html; charset=utf-8",
			wantIn:    []string{"Tunnel not found", "ERR_SSHGRESS_NO_TUNNEL", "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&#39;&amp;.example.com", "ssh command is still running"},
			wantNotIn: []string{"<script>", `alert("x")`},
		},
		{
			name: "plain text for curl", page: PageUpstreamDown, method: "GET",
			accept: "*/*", host: "app.example.com",
			wantType: "text/plain; charset=utf-8",
			wantIn:   []string{"502 The tunnel's service did not answer", "app.example.com", "Error code: ERR_SSHGRESS_UPSTREAM"},
		},
		{
			name: "plain text replaces control characters", page: PageBadHost, method: "GET",
			host:      "a\r\nX-Injected: 1\x1b[31m",
			wantType:  "text/plain; charset=utf-8",
			wantIn:    []string{"a??X-Injected: 1?[31m", "ERR_SSHGRESS_BAD_HOST"},
			wantNotIn: []string{"\r", "\x1b"},
		},
		{
			name: "503 says when to retry", page: PageUnavailable, method: "GET",
			accept: "text/html", host: "app.example.com",
			wantType: "text/html; charset=utf-8", wantIn: []string{"ERR_SSHGRESS_UNAVAILABLE"},
			retryAfter: "5",
		},
		{
			name: "no host at all", page: PageBadHost, method: "GET", host: "",
			wantType:  "text/plain; charset=utf-8",
			wantIn:    []string{"400 Invalid host name", "names no host", "Host header", "ERR_SSHGRESS_BAD_HOST"},
			wantNotIn: []string{"this address", "host name  in"},
		},
		{
			name: "empty host", page: PageMisdirected, method: "GET", host: "",
			wantType: "text/plain; charset=utf-8", wantIn: []string{"requests for this address", "ERR_SSHGRESS_MISDIRECTED"},
		},
		{
			name: "long host is cut", page: PageBadUpstream, method: "GET", host: strings.Repeat("a", 5000),
			wantType: "text/plain; charset=utf-8", wantIn: []string{strings.Repeat("a", pageMaxHost) + "…"},
			wantNotIn: []string{strings.Repeat("a", pageMaxHost+1)},
		},
		{
			name: "HEAD has no body", page: PageNoTunnel, method: "HEAD", accept: "text/html", host: "h",
			wantType: "text/html; charset=utf-8",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "http://h/", nil)
			if tc.accept != "" {
				r.Header.Set("Accept", tc.accept)
			}
			w := httptest.NewRecorder()
			w.Header().Set("Content-Encoding", "gzip")
			WritePage(w, r, tc.page, tc.host)
			res := w.Result()
			body := w.Body.String()
			if res.StatusCode != tc.page.Status {
				t.Errorf("status %d, want %d", res.StatusCode, tc.page.Status)
			}
			for k, want := range map[string]string{
				"Content-Type":           tc.wantType,
				"X-Sshgress-Error":       tc.page.Code,
				"Cache-Control":          "no-store",
				"X-Content-Type-Options": "nosniff",
				"Content-Encoding":       "",
				"Retry-After":            tc.retryAfter,
			} {
				if got := res.Header.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			if tc.method == "HEAD" && body != "" {
				t.Errorf("HEAD response has a body: %q", body)
			}
			for _, s := range tc.wantIn {
				if !strings.Contains(body, s) {
					t.Errorf("body lacks %q:\n%s", s, body)
				}
			}
			for _, s := range tc.wantNotIn {
				if strings.Contains(body, s) {
					t.Errorf("body contains %q:\n%s", s, body)
				}
			}
			if !utf8.ValidString(body) {
				t.Errorf("body is not valid UTF-8")
			}
		})
	}
}

func TestPagesHaveStableCodes(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range []Page{PageNoTunnel, PageUpstreamDown, PageBadUpstream, PageUnavailable, PageBadHost, PageMisdirected, pageMethodNotAllowed, PageForbidden, PageRateLimited, PageCircuitOpen} {
		if !strings.HasPrefix(p.Code, "ERR_SSHGRESS_") || seen[p.Code] {
			t.Errorf("page %q: code %q is not a unique ERR_SSHGRESS_ code", p.Title, p.Code)
		}
		seen[p.Code] = true
		if http.StatusText(p.Status) == "" || p.Title == "" || p.Detail == "" {
			t.Errorf("page %q is incomplete: %+v", p.Title, p)
		}
	}
}

func FuzzWritePageHost(f *testing.F) {
	for _, h := range []string{"app.example.com", "<b>", "\xff\xfe", "a&b\"c'", "\u202e"} {
		f.Add(h)
	}
	render := func(host string) string {
		r := httptest.NewRequest("GET", "http://h/", nil)
		r.Header.Set("Accept", "text/html")
		w := httptest.NewRecorder()
		WritePage(w, r, PageNoTunnel, host)
		return w.Body.String()
	}
	base := render("h")
	f.Fuzz(func(t *testing.T, host string) {
		got := render(host)
		for _, c := range []string{"<", ">", "\""} {
			if strings.Count(got, c) != strings.Count(base, c) {
				t.Errorf("host %q changed the markup: %q count %d, want %d", host, c, strings.Count(got, c), strings.Count(base, c))
			}
		}
		if !utf8.ValidString(got) {
			t.Errorf("host %q made the page invalid UTF-8", host)
		}
	})
}

// TestFailurePages: every failure of the forwarding engine gets the edge's
// page for it, with the status the engine reports for it to the caller.
func TestFailurePages(t *testing.T) {
	for _, tc := range []struct {
		f    forward.Failure
		code string
	}{
		{forward.UpstreamDown, "ERR_SSHGRESS_UPSTREAM"},
		{forward.BadResponse, "ERR_SSHGRESS_BAD_RESPONSE"},
		{forward.Unavailable, "ERR_SSHGRESS_UNAVAILABLE"},
		{forward.ReviewFailed, "ERR_SSHGRESS_UNAVAILABLE"},
		{forward.BadBody, "ERR_SSHGRESS_BAD_BODY"},
		{forward.BodyTimeout, "ERR_SSHGRESS_BODY_TIMEOUT"},
		{forward.MethodNotAllowed, "ERR_SSHGRESS_METHOD"},
	} {
		t.Run(tc.f.String(), func(t *testing.T) {
			r := httptest.NewRequest("GET", "http://app.example.com/", nil)
			w := httptest.NewRecorder()
			WriteFailurePage(w, r, tc.f)
			if got := w.Header().Get("X-Sshgress-Error"); w.Code != tc.f.Status() || got != tc.code {
				t.Errorf("got %d %s, want %d %s", w.Code, got, tc.f.Status(), tc.code)
			}
			if !strings.Contains(w.Body.String(), "app.example.com") {
				t.Errorf("page does not name the request's host:\n%s", w.Body.String())
			}
		})
	}
}
