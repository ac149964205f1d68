package pluginhost

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sshgress/sshgress/core/tunnel"
	"github.com/sshgress/sshgress/core/usererr"
	"github.com/sshgress/sshgress/sdk"
)

// recordingPublisher stands in for the core's listeners: it records the
// binding the plugin decided and publishes nothing.
type recordingPublisher struct{ got []sdk.Binding }

var errNotPublished = errors.New("test publisher publishes nothing")

func (p *recordingPublisher) Publish(_ context.Context, _ *tunnel.BindRequest, b sdk.Binding) (tunnel.Endpoint, error) {
	p.got = append(p.got, b)
	return nil, errNotPublished
}

// TestEndpointFromManifest: a third-party endpoint plugin's command, remote
// ports and served host come from what it described (a real plugin
// process), and the host refuses a remote port the manifest does not
// accept before asking the plugin.
func TestEndpointFromManifest(t *testing.T) {
	h, _ := startHost(t, []Spec{{Name: "game"}}, Options{})
	eps := h.Endpoints()
	if len(eps) != 1 {
		t.Fatalf("Endpoints = %+v, want the game type", eps)
	}
	want := sdk.EndpointTypeSpec{Name: "game", Summary: "Publish a local game server at a public port", Ports: "25565 or 0",
		RemotePorts: []uint32{25565, 0}, Example: "ssh -R 0:localhost:25565 v2@{host} game"}
	if got := eps[0]; got.Plugin != "game" || got.Name != want.Name || got.Summary != want.Summary || got.Ports != want.Ports ||
		got.Example != want.Example || len(got.RemotePorts) != 2 || got.RemotePorts[0] != 25565 {
		t.Errorf("Endpoints()[0] = %+v, want %+v from plugin game", got, want)
	}
	if got := h.EndpointTypes(); got["game"] != "game" || len(got) != 1 {
		t.Errorf("EndpointTypes = %v, want game by game", got)
	}
	if got := h.ServedHosts(); len(got) != 1 || got["games.localhost"] != "game" {
		t.Errorf("ServedHosts = %v, want games.localhost (normalised) by game", got)
	}

	pub := &recordingPublisher{}
	typ := h.EndpointType("game", pub)
	req := &tunnel.BindRequest{TunnelID: "t1", Command: "game", RemoteName: "myapp", RemotePort: 8080}
	_, err := typ.Bind(context.Background(), req)
	msg := usererr.Message(err, "")
	if !usererr.Is(err) || !strings.Contains(msg, "game endpoints listen on remote port 25565 or 0, not 8080") || !strings.Contains(msg, "-R myapp:25565:localhost:LOCALPORT") {
		t.Errorf("Bind on port 8080 = %v (user message %q), want the remote-port hint from the manifest", err, msg)
	}
	if len(pub.got) != 0 {
		t.Errorf("a refused port reached the plugin and the publisher: %+v", pub.got)
	}
	req.RemotePort = 0
	if _, err := typ.Bind(context.Background(), req); !errors.Is(err, errNotPublished) {
		t.Fatalf("Bind on port 0 = %v, want the plugin's binding handed to the publisher", err)
	}
	if len(pub.got) != 1 || pub.got[0].Kind != sdk.KindTCP || pub.got[0].PortMin != 30000 {
		t.Errorf("published %+v, want the plugin's tcp binding", pub.got)
	}
}

// TestServedHostsNeedDeclaring: a plugin that answers served hosts its
// manifest never declared stops the start, since the edge could not have
// kept those hosts from tunnels before the plugin ran.
func TestServedHostsNeedDeclaring(t *testing.T) {
	_, err := Start(context.Background(), []Spec{{Name: "undeclared"}}, Options{Bundled: bundled, BaseDomain: "localhost"})
	if err == nil || !strings.Contains(err.Error(), `plugin "undeclared"`) || !strings.Contains(err.Error(), "declares none") {
		t.Fatalf("Start = %v, want the undeclared served host refused", err)
	}
}

func TestServedHostsChecks(t *testing.T) {
	declared := sdk.Manifest{ServedHosts: []sdk.ServedHost{{Label: "auth"}}}
	tests := []struct {
		name     string
		m        sdk.Manifest
		answered []string
		want     string // error substring; "" for success
		hosts    string
	}{
		{"none", sdk.Manifest{}, nil, "", ""},
		{"normalised and deduplicated", declared, []string{"Auth.Example.com.", "auth.example.com", "b.example.com"}, "", "auth.example.com b.example.com"},
		{"undeclared", sdk.Manifest{}, []string{"auth.example.com"}, "declares none", ""},
		{"invalid", declared, []string{"http://auth.example.com/"}, "served host", ""},
		{"too many", declared, strings.Fields(strings.Repeat("a.example.com ", sdk.MaxServedHosts+1)), "at most", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := servedHosts(tt.m, tt.answered)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("servedHosts = %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("servedHosts = %v, want an error containing %q", err, tt.want)
			}
			if s := strings.Join(got, " "); s != tt.hosts {
				t.Errorf("servedHosts = %q, want %q", s, tt.hosts)
			}
		})
	}
}
