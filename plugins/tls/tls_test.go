package tls

import (
	"context"
	"strings"
	"testing"

	"github.com/sshgress/sshgress/sdk"
)

func TestBind(t *testing.T) {
	p := New()
	if err := p.Configure(context.Background(), sdk.Config{BaseDomain: "tunnel.example.com"}); err != nil {
		t.Fatal(err)
	}
	ann := sdk.Account{Name: "ann", Domains: []string{"app.example.org", "*.dev.example.org"}}
	anon := sdk.Account{Name: "local", Anonymous: true, Domains: ann.Domains}
	for _, tc := range []struct {
		name    string
		req     sdk.BindRequest
		sni     string
		wantErr string
	}{
		{"random", sdk.BindRequest{Account: ann, RemoteName: "localhost", RemotePort: 443}, "", ""},
		{"port 0", sdk.BindRequest{Account: ann, RemotePort: 0}, "", ""},
		{"star", sdk.BindRequest{Account: ann, RemoteName: "*", RemotePort: 443}, "", ""},
		{"label", sdk.BindRequest{Account: ann, RemoteName: "MyApp", RemotePort: 443}, "myapp", ""},
		{"base subdomain", sdk.BindRequest{Account: ann, RemoteName: "x.tunnel.example.com.", RemotePort: 443}, "x.tunnel.example.com", ""},
		{"reserved", sdk.BindRequest{Account: ann, RemoteName: "App.Example.org", RemotePort: 443}, "app.example.org", ""},
		{"wildcard", sdk.BindRequest{Account: ann, RemoteName: "api.dev.example.org", RemotePort: 443}, "api.dev.example.org", ""},
		{"wildcard is one label", sdk.BindRequest{Account: ann, RemoteName: "a.b.dev.example.org", RemotePort: 443}, "", "not reserved"},
		{"unreserved", sdk.BindRequest{Account: ann, RemoteName: "evil.example.net", RemotePort: 443}, "", "not reserved"},
		{"anonymous", sdk.BindRequest{Account: anon, RemoteName: "app.example.org", RemotePort: 443}, "", "not reserved"},
		{"wrong port", sdk.BindRequest{Account: ann, RemotePort: 8443}, "", "remote port 443 or 0, not 8443"},
		{"IPv4", sdk.BindRequest{Account: ann, RemoteName: "192.0.2.1", RemotePort: 443}, "", "not by IP address"},
		{"IPv6", sdk.BindRequest{Account: ann, RemoteName: "[2001:db8::1]", RemotePort: 443}, "", "not by IP address"},
		{"bad cidr", sdk.BindRequest{Account: ann, RemotePort: 443, Values: map[string][]string{"cidr-allow": {"nope"}}}, "", "--cidr-allow"},
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
			if got.Kind != sdk.KindTLS || got.SNIName != tc.sni {
				t.Fatalf("got kind %q name %q, want %q %q", got.Kind, got.SNIName, sdk.KindTLS, tc.sni)
			}
			if err := got.Validate(); err != nil {
				t.Fatalf("binding invalid: %v", err)
			}
		})
	}
}

func TestBindFlags(t *testing.T) {
	got, err := New().Bind(context.Background(), sdk.BindRequest{RemotePort: 443, Values: map[string][]string{
		"cidr-allow": {"10.1.2.3/8"}, "cidr-deny": {"10.9.0.0/16"}, "proxy-proto": {"1"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got.CIDRAllow, ",") != "10.0.0.0/8" || strings.Join(got.CIDRDeny, ",") != "10.9.0.0/16" || got.ProxyProtocol != 1 {
		t.Fatalf("got %+v", got)
	}
}

func TestConfigure(t *testing.T) {
	if err := New().Configure(context.Background(), sdk.Config{Section: map[string]any{"port": 1}}); err == nil || !strings.Contains(err.Error(), `unknown setting "port"`) {
		t.Errorf("Configure with a setting = %v, want the unknown setting named", err)
	}
	m := New().Manifest()
	if eps := m.Endpoints(); m.Name != Name || len(eps) != 1 || eps[0].Name != Name {
		t.Errorf("manifest %+v does not declare the tls endpoint type", m)
	}
}
