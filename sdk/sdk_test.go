package sdk_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sshgress/sshgress/sdk"
	"github.com/sshgress/sshgress/sdk/plugintest"
)

// go-plugin's test mode makes stdout/stderr pipes for each served plugin and
// never closes their write ends: the goroutine copying from them ends only
// when the garbage collector finalises the pipe, which may be after the
// tests. That goroutine is go-plugin's, not ours; every other one counts.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/hashicorp/go-plugin.copyChan"))
}

func TestVerdictValidate(t *testing.T) {
	tests := []struct {
		name string
		v    sdk.Verdict
		want string // "" means valid
	}{
		{"continue", sdk.Verdict{Continue: &sdk.Continue{}}, ""},
		{"respond", sdk.Verdict{Respond: &sdk.Response{Status: 401}}, ""},
		{"empty", sdk.Verdict{}, "neither continue nor respond"},
		{"both", sdk.Verdict{Continue: &sdk.Continue{}, Respond: &sdk.Response{Status: 200}}, "both"},
		{"status 99", sdk.Verdict{Respond: &sdk.Response{Status: 99}}, "outside 100-599"},
		{"status 600", sdk.Verdict{Respond: &sdk.Response{Status: 600}}, "outside 100-599"},
		{"big body", sdk.Verdict{Respond: &sdk.Response{Status: 200, Body: make([]byte, sdk.MaxBodyBytes+1)}}, "at most"},
		{"body at limit", sdk.Verdict{Respond: &sdk.Response{Status: 200, Body: make([]byte, sdk.MaxBodyBytes)}}, ""},
		{"bad header name", sdk.Verdict{Continue: &sdk.Continue{SetHeaders: http.Header{"X A": {"1"}}}}, "not a valid header name"},
		{"header injection", sdk.Verdict{Respond: &sdk.Response{Status: 302, Header: http.Header{"Location": {"/\r\nSet-Cookie: x=1"}}}}, "invalid value"},
		{"set content-length", sdk.Verdict{Continue: &sdk.Continue{SetHeaders: http.Header{"Content-Length": {"0"}}}}, "owned by the edge"},
		{"remove host", sdk.Verdict{Continue: &sdk.Continue{RemoveHeaders: []string{"host"}}}, "owned by the edge"},
		{"negative ttl", sdk.Verdict{Continue: &sdk.Continue{}, Cache: &sdk.CacheHint{TTL: -1}}, "negative"},
		{"bad depends-on", sdk.Verdict{Continue: &sdk.Continue{}, Cache: &sdk.CacheHint{DependsOn: []string{""}, TTL: time.Second}}, "not a valid header name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.v.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if err := (sdk.Verdict{}).Validate(); !errors.Is(err, sdk.ErrEmptyVerdict) {
		t.Errorf("empty verdict error = %v, want ErrEmptyVerdict", err)
	}
}

func TestManifestValidate(t *testing.T) {
	ok := sdk.Manifest{Name: "x", APIVersion: sdk.APIVersion, Flags: []sdk.FlagSpec{{Name: "a-b"}}, ReservedPaths: []string{"/_x/cb"}}
	tests := []struct {
		name string
		edit func(*sdk.Manifest)
		want string
	}{
		{"valid", func(*sdk.Manifest) {}, ""},
		{"empty name", func(m *sdk.Manifest) { m.Name = "" }, "name"},
		{"upper-case name", func(m *sdk.Manifest) { m.Name = "Basic" }, "name"},
		{"api version", func(m *sdk.Manifest) { m.APIVersion = 2 }, "api version"},
		{"dashed flag", func(m *sdk.Manifest) { m.Flags = []sdk.FlagSpec{{Name: "--a"}} }, "flag name"},
		{"duplicate flag", func(m *sdk.Manifest) { m.Flags = []sdk.FlagSpec{{Name: "a"}, {Name: "a"}} }, "twice"},
		{"flag type", func(m *sdk.Manifest) { m.Flags = []sdk.FlagSpec{{Name: "a", Type: 9}} }, "unknown type"},
		{"multi-line help", func(m *sdk.Manifest) { m.Flags = []sdk.FlagSpec{{Name: "a", Help: "x\ny"}} }, "one line"},
		{"relative path", func(m *sdk.Manifest) { m.ReservedPaths = []string{"cb"} }, "reserved path"},
		{"endpoint type", func(m *sdk.Manifest) { m.EndpointTypes = []string{"TCP"} }, "endpoint type"},
		{"described endpoint type", func(m *sdk.Manifest) {
			m.EndpointTypeSpecs = []sdk.EndpointTypeSpec{{Name: "game", Summary: "s", Ports: "0", RemotePorts: []uint32{0, 25565}, Example: "e"}}
		}, ""},
		{"endpoint spec name", func(m *sdk.Manifest) { m.EndpointTypeSpecs = []sdk.EndpointTypeSpec{{Name: "Game"}} }, "endpoint type"},
		{"endpoint spec twice", func(m *sdk.Manifest) { m.EndpointTypeSpecs = []sdk.EndpointTypeSpec{{Name: "g"}, {Name: "g"}} }, "described twice"},
		{"endpoint summary lines", func(m *sdk.Manifest) { m.EndpointTypeSpecs = []sdk.EndpointTypeSpec{{Name: "g", Summary: "a\nb"}} }, "one line"},
		{"endpoint example long", func(m *sdk.Manifest) {
			m.EndpointTypeSpecs = []sdk.EndpointTypeSpec{{Name: "g", Example: strings.Repeat("x", 300)}}
		}, "one line"},
		{"endpoint port", func(m *sdk.Manifest) {
			m.EndpointTypeSpecs = []sdk.EndpointTypeSpec{{Name: "g", RemotePorts: []uint32{70000}}}
		}, "not a port"},
		{"served host", func(m *sdk.Manifest) { m.ServedHosts = []sdk.ServedHost{{Label: "auth", Setting: "auth_host"}} }, ""},
		{"served host empty", func(m *sdk.Manifest) { m.ServedHosts = []sdk.ServedHost{{}} }, "label or a setting"},
		{"served host label", func(m *sdk.Manifest) { m.ServedHosts = []sdk.ServedHost{{Label: "a.b"}} }, "one DNS label"},
		{"served host setting", func(m *sdk.Manifest) { m.ServedHosts = []sdk.ServedHost{{Setting: "Auth Host"}} }, "config key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := ok
			m.Flags = append([]sdk.FlagSpec(nil), ok.Flags...)
			tt.edit(&m)
			err := m.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// echo records what it receives and answers with a fixed verdict, to check
// that every field survives the trip over gRPC.
type echo struct {
	mu      sync.Mutex
	cfg     sdk.Config
	tunnel  sdk.Tunnel
	req     *sdk.Request
	verdict sdk.Verdict
	err     error
}

func (e *echo) Manifest() sdk.Manifest {
	return sdk.Manifest{
		Name: "echo", Version: "1.2.3",
		Flags: []sdk.FlagSpec{{Name: "echo", Type: sdk.FlagInt, Repeatable: true, Help: "h", ValueName: "N",
			Sensitive: true, Commands: []string{"http", "tls"}}},
		EndpointTypes: []string{"echo"},
		EndpointTypeSpecs: []sdk.EndpointTypeSpec{
			{Name: "echo", Summary: "Echo", Ports: "7 or 0", RemotePorts: []uint32{7, 0}, Example: "ssh -R 7:localhost:7 v2@{host} echo"},
			{Name: "echo-b"},
		},
		ReservedPaths: []string{"/_echo"},
		ServedHosts:   []sdk.ServedHost{{Label: "echo", Setting: "echo_host"}},
	}
}

// ServedHosts makes echo an sdk.HostServer.
func (e *echo) ServedHosts() []string { return []string{"echo.example.com"} }

func (e *echo) Configure(_ context.Context, cfg sdk.Config) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cfg = cfg
	return e.err
}

func (e *echo) OpenTunnel(_ context.Context, t sdk.Tunnel) (sdk.OpenResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.tunnel = t
	return sdk.OpenResult{Protection: "echo"}, e.err
}

func (e *echo) CloseTunnel(context.Context, string) error { return nil }

func (e *echo) Check(_ context.Context, req *sdk.Request) (sdk.Verdict, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.req = req
	return e.verdict, e.err
}

func TestRoundTrip(t *testing.T) {
	e := &echo{}
	h := plugintest.Start(t, e)

	wantManifest := e.Manifest()
	wantManifest.APIVersion = sdk.APIVersion
	wantManifest.HTTPMiddleware = true
	// Serve lists every described type in EndpointTypes too, for edges
	// that read only that.
	wantManifest.EndpointTypes = []string{"echo", "echo-b"}
	if got := h.Manifest(); !reflect.DeepEqual(got, wantManifest) {
		t.Errorf("manifest = %+v, want %+v", got, wantManifest)
	}

	section := map[string]any{"n": 1.5, "list": []any{"a"}, "nested": map[string]any{"k": true}}
	if err := h.ConfigureWith(sdk.Config{Section: section, BaseDomain: "example.com", DataDir: "/var/lib/x"}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	if !reflect.DeepEqual(e.cfg.Section, section) || e.cfg.BaseDomain != "example.com" || e.cfg.DataDir != "/var/lib/x" || e.cfg.Logger == nil {
		t.Errorf("plugin got config %+v, want the section, facts and a logger", e.cfg)
	}
	if got := h.ServedHosts(); !reflect.DeepEqual(got, []string{"echo.example.com"}) {
		t.Errorf("Configure answered served hosts %q, want the HostServer's", got)
	}

	tunnel := sdk.Tunnel{ID: "t1", Account: "acct", Command: "http", Host: "h.example.com", URL: "https://h.example.com",
		RemotePort: 443, Values: map[string][]string{"echo": {"1", "2"}}}
	if _, err := h.OpenTunnel(tunnel); err != nil {
		t.Fatalf("OpenTunnel: %v", err)
	}
	if !reflect.DeepEqual(e.tunnel, tunnel) {
		t.Errorf("plugin got tunnel %+v, want %+v", e.tunnel, tunnel)
	}

	e.verdict = sdk.Verdict{
		Respond: &sdk.Response{Status: 302, Header: http.Header{"Location": {"/login"}, "Set-Cookie": {"a=1", "b=2"}}, Body: []byte("go")},
		Cache:   &sdk.CacheHint{DependsOn: []string{"Cookie"}, TTL: 1500 * time.Millisecond},
	}
	req := &sdk.Request{TunnelID: "t1", Method: "POST", Host: "h.example.com", Path: "/a%2Fb", RawQuery: "q=1",
		Header: http.Header{"Cookie": {"x=1"}, "X-Multi": {"1", "2"}}, ClientAddr: netip.MustParseAddrPort("[2001:db8::1]:5000"),
		TLS: &sdk.TLSFacts{ServerName: "h.example.com", Version: 0x0303}}
	v, err := h.Check(req)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if !reflect.DeepEqual(e.req, req) {
		t.Errorf("plugin got request %+v, want %+v", e.req, req)
	}
	if !reflect.DeepEqual(v, e.verdict) {
		t.Errorf("verdict = %+v, want %+v", v, e.verdict)
	}

	e.verdict = sdk.Verdict{Continue: &sdk.Continue{SetHeaders: http.Header{"X-User": {"ann"}}, RemoveHeaders: []string{"Cookie"},
		Identity: &sdk.Identity{ID: "1", Name: "Ann", Email: "ann@example.com"}}}
	plain := &sdk.Request{TunnelID: "t1", Method: "GET", Path: "/", Header: http.Header{}}
	v, err = h.Check(plain)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if !reflect.DeepEqual(v, e.verdict) {
		t.Errorf("verdict = %+v, want %+v", v, e.verdict)
	}
	if e.req.TLS != nil || e.req.ClientAddr.IsValid() {
		t.Errorf("plain request arrived with TLS %+v and address %v, want none", e.req.TLS, e.req.ClientAddr)
	}
}

func TestErrorsOverTheWire(t *testing.T) {
	e := &echo{}
	h := plugintest.Start(t, e)

	e.err = sdk.UserErrorf("--echo must be 1 to 3 (got 7)")
	_, err := h.OpenTunnel(sdk.Tunnel{ID: "t1"})
	if msg, ok := sdk.AsUserError(err); !ok || msg != "--echo must be 1 to 3 (got 7)" {
		t.Errorf("refusal = %v, want the user error verbatim", err)
	}

	e.err = errors.New("echo: disk full")
	_, err = h.OpenTunnel(sdk.Tunnel{ID: "t1"})
	if _, ok := sdk.AsUserError(err); ok || err == nil || err.Error() != "open tunnel: echo: disk full" {
		t.Errorf("internal error = %v, want a non-user error %q", err, "open tunnel: echo: disk full")
	}

	e.err = nil
	e.verdict = sdk.Verdict{Respond: &sdk.Response{Status: 42}}
	if _, err := h.Check(&sdk.Request{TunnelID: "t1", Header: http.Header{}}); err == nil || !strings.Contains(err.Error(), "outside 100-599") {
		t.Errorf("Check with status 42 = %v, want the harness to reject it like the edge", err)
	}
}

// hookless is a plugin without TunnelHooks: only Manifest and Configure.
type hookless struct{}

func (hookless) Manifest() sdk.Manifest {
	return sdk.Manifest{Name: "hookless", Version: "1", Flags: []sdk.FlagSpec{{Name: "hookless", Type: sdk.FlagBool, Commands: []string{"http"}}}}
}
func (hookless) Configure(context.Context, sdk.Config) error { return nil }

// TestTunnelHooksOptional: a plugin that does not implement TunnelHooks
// has its tunnels accepted and closed by the SDK over the wire, without
// stubs of its own.
func TestTunnelHooksOptional(t *testing.T) {
	var p sdk.Plugin = hookless{}
	if _, ok := p.(sdk.TunnelHooks); ok {
		t.Fatal("hookless implements TunnelHooks; the test needs a plugin that does not")
	}
	h := plugintest.Start(t, p)
	res, err := h.OpenTunnel(sdk.Tunnel{ID: "t1", Values: map[string][]string{"hookless": {"true"}}})
	if err != nil || res != (sdk.OpenResult{}) {
		t.Errorf("OpenTunnel = %+v, %v; want an empty result and no error", res, err)
	}
	if err := h.CloseTunnel("t1"); err != nil {
		t.Errorf("CloseTunnel = %v, want nil", err)
	}
}

func TestNewLogger(t *testing.T) {
	var buf bytes.Buffer
	l := sdk.NewLogger(&buf)
	l.Warn("hello", "tunnel", "t1")
	l.Debug("hidden")
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("log line %q is not one JSON object: %v", buf.String(), err)
	}
	if got["@level"] != "warn" || got["@message"] != "hello" || got["tunnel"] != "t1" {
		t.Errorf("log record = %v, want @level warn, @message hello, tunnel t1", got)
	}
	ts, _ := got["@timestamp"].(string)
	if _, err := time.Parse("2006-01-02T15:04:05.000000Z07:00", ts); err != nil {
		t.Errorf("@timestamp %q is not in hclog's layout: %v", ts, err)
	}
}

func TestFlagAppliesTo(t *testing.T) {
	tests := []struct {
		commands []string
		command  string
		want     bool
	}{
		{nil, "http", true},
		{[]string{"http"}, "http", true},
		{[]string{"http"}, "tcp", false},
	}
	for _, tt := range tests {
		if got := (sdk.FlagSpec{Commands: tt.commands}).AppliesTo(tt.command); got != tt.want {
			t.Errorf("AppliesTo(%q) with %q = %v, want %v", tt.command, tt.commands, got, tt.want)
		}
	}
}

func TestConfigNoSettings(t *testing.T) {
	if err := (sdk.Config{Section: map[string]any{}}).NoSettings("p"); err != nil {
		t.Errorf("empty section: %v", err)
	}
	err := (sdk.Config{Section: map[string]any{"zeta": 1, "alpha": 2}}).NoSettings("p")
	if err == nil || err.Error() != `p: configure: unknown setting "alpha" (the plugin has no settings)` {
		t.Errorf("err = %v, want the first key named", err)
	}
}

func TestConfigDecode(t *testing.T) {
	type provider struct {
		ClientID string   `json:"client_id"`
		Scopes   []string `json:"scopes"`
	}
	type settings struct {
		Host      string              `json:"host"`
		Limit     int                 `json:"limit"`
		Providers map[string]provider `json:"providers"`
	}
	for _, tc := range []struct {
		name    string
		section map[string]any
		want    settings
		wantErr string
	}{
		{"empty keeps defaults", nil, settings{Host: "default"}, ""},
		{"all set", map[string]any{"host": "h", "limit": float64(3), "providers": map[string]any{"g": map[string]any{"client_id": "id", "scopes": []any{"a"}}}},
			settings{Host: "h", Limit: 3, Providers: map[string]provider{"g": {ClientID: "id", Scopes: []string{"a"}}}}, ""},
		{"unknown key", map[string]any{"hots": "h"}, settings{}, `unknown setting "hots"`},
		{"nested unknown key", map[string]any{"providers": map[string]any{"g": map[string]any{"client": "x"}}}, settings{}, `unknown setting "client"`},
		{"wrong type", map[string]any{"limit": "three"}, settings{}, "setting limit: want a whole number, not string"},
		{"nested wrong type", map[string]any{"providers": map[string]any{"g": map[string]any{"client_id": float64(1)}}}, settings{}, "setting providers.client_id: want a string, not number"},
		{"fraction for an int", map[string]any{"limit": 1.5}, settings{}, "setting limit: want a whole number, not number 1.5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := settings{Host: "default"}
			err := sdk.Config{Section: tc.section}.Decode(&got)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("Decode = %v, want error %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Decode = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}
