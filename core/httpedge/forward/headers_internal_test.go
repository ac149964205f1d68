package forward

import (
	"net/http"
	"testing"
)

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
			if got := HopByHop(tc.conn, tc.key); got != tc.skip {
				t.Errorf("HopByHop(%q, %q) = %v, want %v", tc.conn, tc.key, got, tc.skip)
			}
		})
	}
}

func TestForwardTrailer(t *testing.T) {
	head := http.Header{"X-Forwarded-For": {"203.0.113.7"}, "X-Auth-User": {"ann"}, "Accept": {"*/*"}}
	for _, tc := range []struct {
		key  string
		pass bool
	}{
		{"X-Checksum", true},
		{"Grpc-Status", true},
		{"X-Forwarded-For", false},
		{"X-Forwarded-Proto", false},
		{"X-Sshgress-User-Email", false},
		{"X-Real-Ip", false},
		{"Client-Ip", false},
		{"X-Original-Url", false},
		{"X-Auth-User", false}, // set by a middleware in the head
		{"Accept", false},      // any name the head has
		{"Authorization", false},
		{"Cookie", false},
		{"Host", false},
		{"Content-Length", false},
		{"Content-Type", false},
		{"Content_Type", false}, // '_' is taken as '-', as for headers
		{"CONTENT-MD5", false},
		{"Contents", true},
		{"Transfer-Encoding", false},
		{"Connection", false},
		{"Trailer", false},
	} {
		t.Run(tc.key, func(t *testing.T) {
			if got := forwardTrailer(head, tc.key); got != tc.pass {
				t.Errorf("forwardTrailer(%q) = %v, want %v", tc.key, got, tc.pass)
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
			if got := upgradeType(tc.h); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
