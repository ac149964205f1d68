package inspect

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// get asks the inspector host for path over TLS (or in clear), with the
// cookies given.
func serve(s *Store, method, path string, tlsOn bool, form url.Values, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	var r *http.Request
	if form != nil {
		r = httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		r = httptest.NewRequest(method, path, nil)
	}
	if tlsOn {
		r.TLS = &tls.ConnectionState{}
	}
	for _, c := range cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}

func TestInspectLinkSetsACookieAndLeavesTheURL(t *testing.T) {
	s := New(Options{BaseURL: "https://inspect.localhost"})
	var replayed []Replay
	tun := s.Open("https://a.localhost", func(_ context.Context, r Replay) (int, error) {
		replayed = append(replayed, r)
		return 1, nil
	})
	defer tun.Close()
	link, _ := url.Parse(tun.URL())
	token := strings.TrimPrefix(link.Path, tokenPath)
	if len(token) < 32 {
		t.Fatalf("token %d hex digits; want at least 128 bits", len(token))
	}

	if w := serve(s, "GET", link.Path, false, nil); w.Code != http.StatusForbidden || len(w.Result().Cookies()) != 0 {
		t.Errorf("link in clear: %d with %d cookies; want 403, none", w.Code, len(w.Result().Cookies()))
	}
	if w := serve(s, "GET", tokenPath+strings.Repeat("0", len(token)), true, nil); w.Code != http.StatusNotFound {
		t.Errorf("a wrong token: %d; want 404", w.Code)
	}
	w := serve(s, "GET", link.Path, true, nil)
	loc := w.Header().Get("Location")
	if w.Code != http.StatusSeeOther || strings.Contains(loc, token) || !strings.HasPrefix(loc, pagesPath) {
		t.Fatalf("link: %d to %q; want 303 to the tunnel's pages, without the token", w.Code, loc)
	}
	cs := w.Result().Cookies()
	if len(cs) != 1 || !strings.HasPrefix(cs[0].Name, "__Host-") || !cs[0].Secure || !cs[0].HttpOnly || cs[0].SameSite != http.SameSiteStrictMode || cs[0].Path != "/" || cs[0].Domain != "" {
		t.Fatalf("cookies %+v; want one host-only __Host- Secure HttpOnly SameSite=Strict cookie", cs)
	}
	if w := serve(s, "GET", loc, true, nil); w.Code != http.StatusNotFound {
		t.Errorf("pages without the cookie: %d; want 404", w.Code)
	}
	w = serve(s, "GET", loc, true, nil, cs[0])
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "No requests yet") {
		t.Errorf("pages with the cookie: %d %q; want 200 and the empty list", w.Code, w.Body.String())
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
		t.Errorf("CSP %q; want default-src 'none' and no script", csp)
	}
	// The banner's link keeps working for the tunnel's life.
	if w := serve(s, "GET", link.Path, true, nil); w.Code != http.StatusSeeOther {
		t.Errorf("link used again: %d; want 303", w.Code)
	}

	// Replays need the form's CSRF token.
	exchange(t, tun, 3, 3, nil)
	replay := loc + "x/1/replay"
	if w := serve(s, "POST", replay, true, url.Values{"csrf": {"nope"}}, cs[0]); w.Code != http.StatusForbidden || len(replayed) != 0 {
		t.Errorf("replay with a wrong CSRF token: %d, %d replays; want 403, none", w.Code, len(replayed))
	}
	if w := serve(s, "POST", replay, true, url.Values{"csrf": {tun.csrf()}}); w.Code != http.StatusNotFound || len(replayed) != 0 {
		t.Errorf("replay without the cookie: %d, %d replays; want 404, none", w.Code, len(replayed))
	}
	w = serve(s, "POST", replay, true, url.Values{"csrf": {tun.csrf()}, "edited": {"1"}, "method": {"put"}, "target": {"/edited"}, "header_lines": {"X-A: 1\r\nAuthorization: [redacted]\r\nCookie: typed=1"}, "body": {"a\r\nb"}}, cs[0])
	if w.Code != http.StatusSeeOther || len(replayed) != 1 {
		t.Fatalf("edited replay: %d, %d replays; want 303, one", w.Code, len(replayed))
	}
	got := replayed[0]
	if got.Method != "PUT" || got.Target != "/edited" || got.Header.Get("X-A") != "1" || got.Header.Get("Authorization") != "" || got.Header.Get("Cookie") != "typed=1" || string(got.Body) != "a\nb" {
		t.Errorf("edited replay %+v; want PUT /edited, X-A: 1, the placeholder left out, the typed cookie, body a\\nb", got)
	}

	// A body kept only in part is not replayed as if it were whole.
	exchange(t, tun, MaxBodyBytes+1, 0, nil)
	if w := serve(s, "POST", loc+"x/2/replay", true, url.Values{"csrf": {tun.csrf()}}, cs[0]); w.Code != http.StatusConflict || len(replayed) != 1 {
		t.Errorf("unchanged replay of a truncated body: %d, %d replays; want 409, none more", w.Code, len(replayed))
	}

	tun.Close()
	if w := serve(s, "GET", link.Path, true, nil); w.Code != http.StatusNotFound {
		t.Errorf("link after the tunnel closed: %d; want 404", w.Code)
	}
}
