package tcp

import (
	"context"
	"strings"
	"testing"

	"github.com/sshgress/sshgress/sdk"
)

func TestBind(t *testing.T) {
	p := New()
	if err := p.Configure(context.Background(), sdk.Config{BaseDomain: "tunnel.example.com", Section: map[string]any{"port_range": "30000-30010"}}); err != nil {
		t.Fatal(err)
	}
	ann := sdk.Account{Name: "ann", TCPAddresses: []string{"tunnel.example.com:20002"}}
	for _, tc := range []struct {
		name    string
		req     sdk.BindRequest
		want    sdk.Binding
		wantErr string
	}{
		{"random", sdk.BindRequest{Account: ann, RemoteName: "localhost"},
			sdk.Binding{Kind: "tcp", Host: "tunnel.example.com", PortMin: 30000, PortMax: 30010}, ""},
		{"reserved", sdk.BindRequest{Account: ann, RemoteName: "Tunnel.Example.com.", RemotePort: 20002},
			sdk.Binding{Kind: "tcp", Host: "tunnel.example.com", Port: 20002}, ""},
		{"reserved port only", sdk.BindRequest{Account: ann, RemoteName: "", RemotePort: 20002},
			sdk.Binding{Kind: "tcp", Host: "tunnel.example.com", Port: 20002}, ""},
		{"unreserved", sdk.BindRequest{Account: ann, RemotePort: 22}, sdk.Binding{}, "remote port 0"},
		{"anonymous", sdk.BindRequest{Account: sdk.Account{Name: "local", Anonymous: true, TCPAddresses: ann.TCPAddresses}, RemotePort: 20002}, sdk.Binding{}, "not reserved"},
		{"rules", sdk.BindRequest{Account: ann, Values: map[string][]string{"cidr-allow": {"10.1.2.3/8", "192.0.2.1"}, "proxy-proto": {"2"}}},
			sdk.Binding{Kind: "tcp", Host: "tunnel.example.com", PortMin: 30000, PortMax: 30010, CIDRAllow: []string{"10.0.0.0/8", "192.0.2.1/32"}, ProxyProtocol: 2}, ""},
		{"bad cidr", sdk.BindRequest{Account: ann, Values: map[string][]string{"cidr-deny": {"nope"}}}, sdk.Binding{}, "--cidr-deny"},
		{"bad proxy", sdk.BindRequest{Account: ann, Values: map[string][]string{"proxy-proto": {"3"}}}, sdk.Binding{}, "want 1 or 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := p.Bind(context.Background(), tc.req)
			if tc.wantErr != "" {
				if _, ok := sdk.AsUserError(err); !ok || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want a user error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := got.Validate(); err != nil {
				t.Fatalf("binding invalid: %v", err)
			}
			if g, w := strings.Join(append(got.CIDRAllow, got.Host, got.Kind), ","), strings.Join(append(tc.want.CIDRAllow, tc.want.Host, tc.want.Kind), ","); g != w || got.Port != tc.want.Port || got.PortMin != tc.want.PortMin || got.PortMax != tc.want.PortMax || got.ProxyProtocol != tc.want.ProxyProtocol {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestConfigure(t *testing.T) {
	for _, sec := range []map[string]any{{"port_range": "5-1"}, {"port_range": 5}, {"public_host": "a b"}, {"nope": 1}} {
		if err := New().Configure(context.Background(), sdk.Config{Section: sec}); err == nil {
			t.Errorf("Configure(%v) = nil, want an error", sec)
		}
	}
}
