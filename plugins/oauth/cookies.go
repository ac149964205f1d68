package oauth

import (
	"net/http"
	"strings"
	"time"
)

const (
	// CookiePrefix starts the name of every cookie the plugin sets. All
	// are __Host- cookies: Secure, Path=/, no Domain, so they belong to
	// exactly one host. None of them reaches the upstream.
	CookiePrefix = "__Host-sshgress_"
	// SessionCookie holds the sealed session on a tunnel host.
	SessionCookie = CookiePrefix + "session"
	// LoginCookie on a tunnel host binds a sign-in to the browser that
	// started it.
	LoginCookie = CookiePrefix + "login"
	// stateCookiePrefix + the state names the state cookie on the auth
	// host, one per sign-in in flight.
	stateCookiePrefix = CookiePrefix + "state_"
	// maxCookiePairs bounds the cookies read from a request.
	maxCookiePairs = 256
)

// cookiePair is one name=value of a Cookie header, value as sent.
type cookiePair struct{ name, value, raw string }

// requestCookies splits the Cookie header lines of h into pairs, at most
// maxCookiePairs.
func requestCookies(h http.Header) []cookiePair {
	var out []cookiePair
	for _, line := range h.Values("Cookie") {
		for part := range strings.SplitSeq(line, ";") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			if len(out) == maxCookiePairs {
				return out
			}
			name, value, _ := strings.Cut(part, "=")
			value = strings.TrimSpace(value)
			if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
				value = value[1 : len(value)-1]
			}
			out = append(out, cookiePair{name: strings.TrimSpace(name), value: value, raw: part})
		}
	}
	return out
}

// cookieValues returns the values of every cookie named name, in order.
func cookieValues(h http.Header, name string) []string {
	var out []string
	for _, c := range requestCookies(h) {
		if c.name == name {
			out = append(out, c.value)
		}
	}
	return out
}

// upstreamCookie returns the Cookie header the upstream should get: the
// visitor's cookies without the plugin's own. keep is false when nothing
// remains and the header must be removed.
func upstreamCookie(h http.Header) (value string, keep bool) {
	var kept []string
	for _, line := range h.Values("Cookie") {
		for part := range strings.SplitSeq(line, ";") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			name, _, _ := strings.Cut(part, "=")
			if strings.HasPrefix(strings.TrimSpace(name), CookiePrefix) {
				continue
			}
			kept = append(kept, part)
		}
	}
	if len(kept) == 0 {
		return "", false
	}
	return strings.Join(kept, "; "), true
}

// setCookie returns a Set-Cookie value for a __Host- cookie; maxAge <= 0
// deletes it.
func setCookie(name, value string, maxAge time.Duration) string {
	c := &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		Secure:   true,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
		MaxAge:   int(maxAge / time.Second),
	}
	if maxAge <= 0 {
		c.Value = ""
		c.MaxAge = -1
	}
	return c.String()
}
