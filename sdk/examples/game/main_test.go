package main

import (
	"context"
	"testing"

	"github.com/sshgress/sshgress/sdk"
	"github.com/sshgress/sshgress/sdk/plugintest"
)

// TestGame runs the plugin as the edge does: its described type survives
// the trip over gRPC (and is listed in EndpointTypes for older edges), and
// Bind asks for a port from its range with the user's connection rules.
func TestGame(t *testing.T) {
	h := plugintest.Start(t, plugin{})
	m := h.Manifest()
	if eps := m.Endpoints(); len(eps) != 1 || eps[0].Ports != "25565 or 0" || len(eps[0].RemotePorts) != 2 {
		t.Errorf("endpoints %+v, want game with its ports", eps)
	}
	if len(m.EndpointTypes) != 1 || m.EndpointTypes[0] != name {
		t.Errorf("EndpointTypes %v, want [game] for edges that read only that", m.EndpointTypes)
	}
	if err := h.Configure(map[string]any{"port": 1.0}); err == nil {
		t.Error("Configure with a setting: no error")
	}
	if err := h.Configure(nil); err != nil {
		t.Fatal(err)
	}
	b, err := h.Client().Bind(context.Background(), sdk.BindRequest{TunnelID: "t1", Type: name,
		Values: map[string][]string{"cidr-allow": {"203.0.113.0/24"}}})
	if err != nil {
		t.Fatal(err)
	}
	if b.Kind != sdk.KindTCP || b.PortMin != portMin || b.PortMax != portMax || len(b.CIDRAllow) != 1 {
		t.Errorf("binding %+v, want a tcp port from %d-%d allowing 203.0.113.0/24", b, portMin, portMax)
	}
}
