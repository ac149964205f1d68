package httpedge

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

func TestStripVisitorHeaders(t *testing.T) {
	for _, tc := range []struct {
		key   string
		strip bool
	}{
		{"X-Forwarded-For", true},
		{"x-forwarded-for", true},
		{"X_Forwarded_For", true},
		{"X-FORWARDED_PROTO", true},
		{"X-Forwarded-Host", true},
		{"X-Forwarded-Port", true},
		{"X-Forwarded-Prefix", true},
		{"X-Forwarded-Ssl", true},
		{"X-Forwarded-Client-Cert", true},
		{"X-Real-Ip", true},
		{"x_real_ip", true},
		{"Forwarded", true},
		{"FORWARDED", true},
		{"X-Client-Ip", true},
		{"True-Client-Ip", true},
		{"X-Url-Scheme", true},
		{"Front-End-Https", true},
		{"X-Sshgress-User", true},
		{"x-sshgress_user-email", true},
		{"X_SSHGRESS_GROUPS", true},
		{"X-Sshgress", false},
		{"X-Forwarded", false},
		{"Forwarded-For", false},
		{"X-Forwardedfor", false},
		{"X-Real-Ip-Not", false},
		{"Authorization", false},
		{"Accept", false},
		{"X-Request-Id", false},
		{"Cookie", false},
	} {
		t.Run(tc.key, func(t *testing.T) {
			h := http.Header{tc.key: {"v"}, "Accept": {"*/*"}}
			StripVisitorHeaders(h)
			_, kept := h[tc.key]
			if got := !kept; got != tc.strip {
				t.Errorf("stripped = %v, want %v", got, tc.strip)
			}
			if h.Get("Accept") != "*/*" {
				t.Errorf("Accept was removed too")
			}
		})
	}
}

// fwdtOracleSpoofable restates StripVisitorHeaders' rule independently.
func fwdtOracleSpoofable(k string) bool {
	n := strings.ReplaceAll(strings.ToLower(k), "_", "-")
	switch n {
	case "forwarded", "x-real-ip", "x-client-ip", "true-client-ip", "x-url-scheme", "front-end-https":
		return true
	}
	return strings.HasPrefix(n, "x-forwarded-") || strings.HasPrefix(n, "x-sshgress-")
}

func FuzzStripVisitorHeaders(f *testing.F) {
	for _, k := range []string{"X-Forwarded-For", "x_sshgress_user", "Forwarded", "Accept", "X-Real-Ip", "x-forwarded-"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, k string) {
		h := http.Header{k: {"v"}}
		StripVisitorHeaders(h)
		_, kept := h[k]
		if want := fwdtOracleSpoofable(k); kept == want {
			t.Errorf("%q: kept = %v, want %v", k, kept, !want)
		}
	})
}

func TestSetForwarded(t *testing.T) {
	for _, tc := range []struct {
		name, visitor, proto, host string
		wantFor                    string
	}{
		{"ipv4", "203.0.113.7:5000", "https", "app.example.com", "203.0.113.7"},
		{"ipv4-mapped ipv6", "[::ffff:203.0.113.7]:5000", "http", "app.example.com", "203.0.113.7"},
		{"ipv6 with zone", "[fe80::1%eth0]:5000", "http", "h", "fe80::1"},
		{"ipv6", "[2001:db8::1]:443", "https", "h:8443", "2001:db8::1"},
		{"zero visitor", "", "http", "h", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v netip.AddrPort
			if tc.visitor != "" {
				v = netip.MustParseAddrPort(tc.visitor)
			}
			h := http.Header{}
			SetForwarded(h, v, tc.proto, tc.host)
			for k, want := range map[string]string{
				"X-Forwarded-For":   tc.wantFor,
				"X-Forwarded-Proto": tc.proto,
				"X-Forwarded-Host":  tc.host,
			} {
				if got := strings.Join(h.Values(k), ","); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestHopHeaders(t *testing.T) {
	for _, tc := range []struct {
		key  string
		conn []string
		skip bool
	}{
		{"Connection", nil, true},
		{"Keep-Alive", nil, true},
		{"Proxy-Connection", nil, true},
		{"Te", nil, true},
		{"Trailer", nil, true},
		{"Transfer-Encoding", nil, true},
		{"Upgrade", nil, true},
		{"Proxy-Authorization", nil, true},
		{"Proxy-Authenticate", nil, true},
		{"transfer-encoding", nil, true},
		{"X-Secret", []string{"keep-alive, X-Secret"}, true},
		{"X-Secret", []string{"close", " x-secret "}, true},
		{"X-Secret", []string{"X-Secretive"}, false},
		{"Content-Type", nil, false},
		{"Authorization", []string{"close"}, false},
	} {
		t.Run(tc.key, func(t *testing.T) {
			if got := fwdSkipHeader(tc.conn, tc.key); got != tc.skip {
				t.Errorf("fwdSkipHeader(%q, %q) = %v, want %v", tc.conn, tc.key, got, tc.skip)
			}
		})
	}
}

func TestUpgradeType(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    http.Header
		want string
	}{
		{"websocket", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}}, "websocket"},
		{"among tokens", http.Header{"Connection": {"keep-alive, upgrade"}, "Upgrade": {"h2c"}}, "h2c"},
		{"no connection token", http.Header{"Upgrade": {"websocket"}}, ""},
		{"no upgrade header", http.Header{"Connection": {"upgrade"}}, ""},
		{"control characters", http.Header{"Connection": {"upgrade"}, "Upgrade": {"web\x00socket"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fwdUpgradeType(tc.h); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
