package pluginhost

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sshgress/sshgress/sdk"
	"github.com/sshgress/sshgress/sdk/host"
)

// reservingPlugin reserves paths and answers by path: "/oauth2/pass"
// continues, "/oauth2/slow" waits for its deadline, "/oauth2/nonsense"
// answers status 42, "/oauth2/fail" errors; anything else responds 200 with
// "host path tunnel=ID" in the body.
type reservingPlugin struct {
	name  string
	paths []string
}

func (p *reservingPlugin) Manifest() sdk.Manifest {
	return sdk.Manifest{Name: p.name, Version: "0", ReservedPaths: p.paths, Flags: []sdk.FlagSpec{{
		Name: p.name + "-flag", Type: sdk.FlagBool, Help: "Test.",
	}}}
}
func (p *reservingPlugin) Configure(context.Context, sdk.Config) error { return nil }
func (p *reservingPlugin) OpenTunnel(context.Context, sdk.Tunnel) (sdk.OpenResult, error) {
	return sdk.OpenResult{}, nil
}
func (p *reservingPlugin) CloseTunnel(context.Context, string) error { return nil }
func (p *reservingPlugin) Check(ctx context.Context, req *sdk.Request) (sdk.Verdict, error) {
	switch req.Path {
	case "/oauth2/pass":
		return sdk.Verdict{Continue: &sdk.Continue{}}, nil
	case "/oauth2/slow":
		// Never answer with a verdict: one sent the moment the deadline
		// passes (gRPC gives the plugin a slightly earlier one) may arrive
		// in time.
		<-ctx.Done()
		return sdk.Verdict{}, ctx.Err()
	case "/oauth2/nonsense":
		return sdk.Verdict{Respond: &sdk.Response{Status: 42}}, nil
	case "/oauth2/fail":
		return sdk.Verdict{}, errors.New("failed")
	}
	body := p.name + " " + req.Host + " " + req.Path + "?" + req.RawQuery + " tunnel=" + req.TunnelID
	if req.Header.Get("Host") != "" {
		body += " host-header"
	}
	return sdk.Verdict{
		Respond: &sdk.Response{Status: 200, Header: http.Header{"X-Plugin": {p.name}}, Body: []byte(body)},
		Cache:   &sdk.CacheHint{TTL: time.Minute},
	}, nil
}

// reservedHost builds a Host around plugins served over plain gRPC on
// loopback, without child processes or go-plugin.
func reservedHost(t *testing.T, plugins ...sdk.Plugin) *Host {
	t.Helper()
	h := &Host{logger: slog.New(slog.DiscardHandler), plugins: map[string]*proc{}}
	h.opts.CallTimeout = 300 * time.Millisecond
	h.opts.setDefaults()
	for _, pl := range plugins {
		gp := sdk.ServeConfig(pl, nil).Plugins[host.PluginKey].(plugin.GRPCPlugin)
		srv := grpc.NewServer()
		if err := gp.GRPCServer(nil, srv); err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(ln)
		conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			conn.Close()
			srv.Stop()
		})
		raw, _ := (&host.GRPCPlugin{}).GRPCClient(t.Context(), nil, conn)
		m := pl.Manifest()
		m.APIVersion, m.HTTPMiddleware = sdk.APIVersion, true
		p := &proc{host: h, spec: Spec{Name: m.Name}, manifest: m, tunnels: map[string]*openTunnel{}}
		p.cur.Store(&instance{rpc: raw.(*host.Client)})
		h.plugins[m.Name] = p
		h.names = append(h.names, m.Name)
	}
	return h
}

func TestCheckReserved(t *testing.T) {
	h := reservedHost(t,
		&reservingPlugin{name: "oauth", paths: []string{"/oauth2/"}},
		&reservingPlugin{name: "deep", paths: []string{"/oauth2/deep", "/exact"}},
	)
	tests := []struct {
		target      string
		wantHandled bool
		wantErr     string // substring; "" means no error
		wantBody    string // for a handled respond
	}{
		{"http://auth.localhost:8080/oauth2/callback?code=1", true, "", "oauth auth.localhost /oauth2/callback?code=1 tunnel="},
		{"http://auth.localhost/oauth2/", true, "", "oauth auth.localhost /oauth2/? tunnel="},
		{"http://auth.localhost/oauth2/deep", true, "", "deep auth.localhost /oauth2/deep? tunnel="},
		{"http://auth.localhost/oauth2/deep/x", true, "", "deep auth.localhost /oauth2/deep/x? tunnel="},
		{"http://auth.localhost/oauth2/deeper", true, "", "oauth auth.localhost /oauth2/deeper? tunnel="},
		{"http://auth.localhost/exact", true, "", "deep auth.localhost /exact? tunnel="},
		{"http://auth.localhost/exactly", false, "", ""},
		{"http://auth.localhost/oauth2", false, "", ""},
		{"http://auth.localhost/", false, "", ""},
		{"http://auth.localhost/x/oauth2/callback", false, "", ""},
		{"http://auth.localhost/oauth2%2Fcallback", false, "", ""},
		{"http://auth.localhost/oauth2/pass", false, "", ""},
		{"http://auth.localhost/oauth2/slow", true, "no answer within", ""},
		{"http://auth.localhost/oauth2/nonsense", true, "nonsense verdict", ""},
		{"http://auth.localhost/oauth2/fail", true, "failed", ""},
	}
	client := netip.MustParseAddrPort("192.0.2.1:5000")
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			r := httptest.NewRequest("GET", tt.target, nil)
			r.Header.Set("Host", "spoofed")
			d, handled, err := h.CheckReserved(r, client, nil)
			if handled != tt.wantHandled {
				t.Errorf("handled = %v, want %v", handled, tt.wantHandled)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v, want none", err)
			}
			if tt.wantBody == "" {
				if d.Respond {
					t.Errorf("decision = %+v, want none", d)
				}
				return
			}
			if !d.Respond || d.Status != 200 || string(d.Body) != tt.wantBody {
				t.Errorf("decision = respond %v, %d, %q; want respond 200, %q", d.Respond, d.Status, d.Body, tt.wantBody)
			}
		})
	}
	if got := h.Calls(); got != 10 {
		t.Errorf("plugin calls = %d, want 10 (no caching of reserved verdicts)", got)
	}
	// The same request again still reaches the plugin: nothing is cached.
	before := h.Calls()
	r := httptest.NewRequest("GET", "http://auth.localhost/oauth2/callback", nil)
	if _, _, err := h.CheckReserved(r, client, nil); err != nil {
		t.Fatal(err)
	}
	if h.Calls() != before+1 {
		t.Errorf("calls = %d, want %d", h.Calls(), before+1)
	}
}

func TestCheckReservedFailsClosed(t *testing.T) {
	h := reservedHost(t, &reservingPlugin{name: "oauth", paths: []string{"/oauth2/"}})
	r := httptest.NewRequest("GET", "http://auth.localhost/oauth2/callback", nil)
	client := netip.MustParseAddrPort("192.0.2.1:5000")

	h.plugins["oauth"].cur.Store(nil) // crashed, being restarted
	if _, handled, err := h.CheckReserved(r, client, nil); !handled || !errors.Is(err, errPluginDown) {
		t.Errorf("plugin down: handled %v, err %v; want true, errPluginDown", handled, err)
	}
	h.closed.Store(true)
	if _, handled, err := h.CheckReserved(r, client, nil); !handled || err == nil {
		t.Errorf("host closed: handled %v, err %v; want true and an error", handled, err)
	}
}

func TestUnderReserved(t *testing.T) {
	tests := []struct {
		path, rp string
		want     bool
	}{
		{"/oauth2/", "/oauth2/", true},
		{"/oauth2/callback", "/oauth2/", true},
		{"/oauth2", "/oauth2/", false},
		{"/oauth2x", "/oauth2", false},
		{"/oauth2", "/oauth2", true},
		{"/oauth2/x", "/oauth2", true},
		{"/", "/", true},
		{"/anything", "/", true},
	}
	for _, tt := range tests {
		if got := underReserved(tt.path, tt.rp); got != tt.want {
			t.Errorf("underReserved(%q, %q) = %v, want %v", tt.path, tt.rp, got, tt.want)
		}
	}
}
