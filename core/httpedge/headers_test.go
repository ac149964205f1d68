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
		{"Client-Ip", true},
		{"X-Original-Url", true},
		{"X-Original-Host", true},
		{"X-Rewrite-Url", true},
		{"Cf-Connecting-Ip", true},
		{"Fastly-Client-Ip", true},
		{"X-Cluster-Client-Ip", true},
		{"X-Forwarded", true},
		{"X-Sshgress", false},
		{"X-Originals", false},
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

// fwdtOracleSpoofable restates StripVisitorHeaders' rule for a header
// sent alone (no Connection header) independently.
func fwdtOracleSpoofable(k string) bool {
	n := strings.ReplaceAll(strings.ToLower(k), "_", "-")
	switch n {
	case "forwarded", "x-forwarded", "x-real-ip", "x-client-ip", "true-client-ip", "x-url-scheme", "front-end-https",
		"client-ip", "cf-connecting-ip", "cf-connecting-ipv6", "fastly-client-ip", "x-cluster-client-ip",
		"x-remote-ip", "x-remote-addr", "x-originating-ip", "x-rewrite-url":
		return true
	}
	if strings.EqualFold(k, "te") {
		return k != "Te" // Forward reads the canonical Te; any other spelling is a hop header
	}
	switch strings.ToLower(k) { // hop-by-hop (exact names)
	case "connection", "keep-alive", "proxy-connection", "trailer", "transfer-encoding", "upgrade",
		"proxy-authorization", "proxy-authenticate":
		return true
	}
	return strings.HasPrefix(n, "x-forwarded-") || strings.HasPrefix(n, "x-sshgress-") || strings.HasPrefix(n, "x-original-")
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

func TestLoopID(t *testing.T) {
	a, b := newLoopID(), newLoopID()
	if a == b || !strings.HasPrefix(a, "sshgress-") {
		t.Fatalf("loop IDs %q and %q: want distinct sshgress-… pseudonyms", a, b)
	}
	for _, tc := range []struct {
		vals []string
		want bool
	}{
		{nil, false},
		{[]string{"cloudflare"}, false},
		{[]string{a}, true},
		{[]string{"cloudflare, " + a + "; v=1"}, true},
		{[]string{"foo", " " + a + " "}, true},
		{[]string{b}, false},
		{[]string{a + "x"}, false},
	} {
		if got := hasLoopID(http.Header{"Cdn-Loop": tc.vals}, a); got != tc.want {
			t.Errorf("hasLoopID(%q) = %v, want %v", tc.vals, got, tc.want)
		}
	}
	only := []string{a}
	h := http.Header{"Cdn-Loop": {"cloudflare"}}
	addLoopID(h, only)
	if got := strings.Join(h["Cdn-Loop"], ", "); got != "cloudflare, "+a {
		t.Errorf("after addLoopID: CDN-Loop %q, want the proxy's entry kept and ours appended", got)
	}
	h = http.Header{}
	addLoopID(h, only)
	h2 := http.Header{"Cdn-Loop": {"x"}}
	addLoopID(h2, only)
	if got := strings.Join(h["Cdn-Loop"], ","); got != a || only[0] != a || len(only) != 1 {
		t.Errorf("without a visitor's CDN-Loop: %q, shared slice now %q; want only ours, shared slice unchanged", got, only)
	}
}

// BenchmarkStripVisitorHeaders strips a browser's request head with a few
// forwarding headers a proxy in front of the edge added.
func BenchmarkStripVisitorHeaders(b *testing.B) {
	src := http.Header{
		"User-Agent":       {"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"},
		"Accept":           {"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
		"Accept-Encoding":  {"gzip, deflate, br"},
		"Accept-Language":  {"en-US,en;q=0.5"},
		"Cookie":           {"session=abc"},
		"Referer":          {"https://app.example.com/"},
		"Sec-Fetch-Mode":   {"navigate"},
		"Cache-Control":    {"max-age=0"},
		"X-Forwarded-For":  {"198.51.100.1"},
		"X-Real-Ip":        {"198.51.100.1"},
		"Cf-Connecting-Ip": {"198.51.100.1"},
		"Connection":       {"keep-alive"},
	}
	h := make(http.Header, len(src))
	b.ReportAllocs()
	for b.Loop() {
		clear(h)
		for k, v := range src {
			h[k] = v
		}
		StripVisitorHeaders(h)
	}
}
