package httpedge

import (
	"testing"

	"github.com/sshgress/sshgress/core/usererr"
)

func TestParseUpstream(t *testing.T) {
	tests := []struct {
		name      string
		vals      map[string][]string
		wantHTTP2 bool
		wantTLS   bool
		verify    bool
		wantErr   string
	}{
		{name: "none", vals: nil},
		{name: "http1", vals: map[string][]string{FlagUpstreamProtocol: {"http1"}}},
		{name: "http2", vals: map[string][]string{FlagUpstreamProtocol: {"http2"}}, wantHTTP2: true},
		{name: "h2c alias", vals: map[string][]string{FlagUpstreamProtocol: {"h2c"}}, wantHTTP2: true},
		{name: "tls verifies by default", vals: map[string][]string{FlagUpstreamTLS: {"true"}}, wantTLS: true, verify: true},
		{name: "tls unverified", vals: map[string][]string{FlagUpstreamTLS: {"true"}, FlagUpstreamTLSVerify: {"false"}}, wantTLS: true},
		{name: "h2 over tls", vals: map[string][]string{FlagUpstreamTLS: {"true"}, FlagUpstreamProtocol: {"http2"}}, wantHTTP2: true, wantTLS: true, verify: true},
		{name: "bad protocol", vals: map[string][]string{FlagUpstreamProtocol: {"spdy"}}, wantErr: `--upstream-protocol takes http1 or http2, not "spdy".`},
		{name: "verify without tls", vals: map[string][]string{FlagUpstreamTLSVerify: {"false"}}, wantErr: "--upstream-tls-verify only applies with --upstream-tls (your service speaks https); add --upstream-tls or leave it out."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseUpstream(tt.vals)
			if tt.wantErr != "" {
				if msg := usererr.Message(err, ""); !usererr.Is(err) || msg != tt.wantErr {
					t.Fatalf("error %v, want user error %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.http2 != tt.wantHTTP2 || (o.tls != nil) != tt.wantTLS {
				t.Fatalf("http2 %v tls %v, want %v %v", o.http2, o.tls != nil, tt.wantHTTP2, tt.wantTLS)
			}
			if o.tls != nil && o.tls.Verify != tt.verify {
				t.Errorf("verify %v, want %v", o.tls.Verify, tt.verify)
			}
		})
	}
}

func TestHostName(t *testing.T) {
	for in, want := range map[string]string{"localhost:3000": "localhost", "app.local": "app.local", "[::1]:8443": "::1", "": ""} {
		if got := hostName(in); got != want {
			t.Errorf("hostName(%q) = %q, want %q", in, got, want)
		}
	}
}
