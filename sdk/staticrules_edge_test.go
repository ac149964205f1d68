package sdk

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pluginv1 "github.com/sshgress/sshgress/sdk/proto/plugin/v1"
)

// ruler returns static rules for every tunnel and records closes.
type ruler struct{ closed []string }

func (r *ruler) Manifest() Manifest                      { return Manifest{Name: "ruler"} }
func (r *ruler) Configure(context.Context, Config) error { return nil }
func (r *ruler) OpenTunnel(context.Context, Tunnel) (OpenResult, error) {
	return OpenResult{Rules: &StaticRules{CIDRDeny: []string{"192.0.2.0/24"}}}, nil
}
func (r *ruler) CloseTunnel(_ context.Context, id string) error {
	r.closed = append(r.closed, id)
	return nil
}

// TestStaticRulesNeedAnEnforcingEdge: an edge older than static rules
// would drop them, so the SDK refuses such a tunnel (fail closed) and
// closes it in the plugin; an edge that enforces them gets them.
func TestStaticRulesNeedAnEnforcingEdge(t *testing.T) {
	p := &ruler{}
	s := &pluginServer{impl: p, logger: slog.New(slog.DiscardHandler)}
	_, err := s.OpenTunnel(context.Background(), &pluginv1.OpenTunnelRequest{TunnelId: "old", Command: "http"})
	if st, _ := status.FromError(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "this edge is too old to enforce the request rules") {
		t.Fatalf("OpenTunnel from an older edge = %v, want a refusal", err)
	}
	if len(p.closed) != 1 || p.closed[0] != "old" {
		t.Errorf("closed %v, want the refused tunnel closed", p.closed)
	}
	resp, err := s.OpenTunnel(context.Background(), &pluginv1.OpenTunnelRequest{TunnelId: "new", Command: "http", EnforcesStaticRules: true})
	if err != nil || len(resp.GetStaticRules().GetCidrDeny()) != 1 {
		t.Fatalf("OpenTunnel from an enforcing edge = %v, %v; want the rules", resp, err)
	}
}

// limiter returns a rate limit for every tunnel.
type limiter struct{ ruler }

func (l *limiter) OpenTunnel(context.Context, Tunnel) (OpenResult, error) {
	return OpenResult{Rules: &StaticRules{RateLimit: &RateLimit{Requests: 5, Period: time.Minute}}}, nil
}

// TestTrafficLimitsNeedAnEnforcingEdge: an edge that enforces static
// rules but not rate limits or breakers would drop them: the SDK refuses
// the tunnel and closes it in the plugin.
func TestTrafficLimitsNeedAnEnforcingEdge(t *testing.T) {
	p := &limiter{}
	s := &pluginServer{impl: p, logger: slog.New(slog.DiscardHandler)}
	_, err := s.OpenTunnel(context.Background(), &pluginv1.OpenTunnelRequest{TunnelId: "old", Command: "http", EnforcesStaticRules: true})
	if st, _ := status.FromError(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "too old to enforce rate limits") {
		t.Fatalf("OpenTunnel from an edge without traffic limits = %v, want a refusal", err)
	}
	if len(p.closed) != 1 || p.closed[0] != "old" {
		t.Errorf("closed %v, want the refused tunnel closed", p.closed)
	}
	resp, err := s.OpenTunnel(context.Background(), &pluginv1.OpenTunnelRequest{TunnelId: "new", Command: "http", EnforcesStaticRules: true, EnforcesTrafficLimits: true})
	if err != nil || resp.GetStaticRules().GetRateLimit().GetRequests() != 5 || resp.GetStaticRules().GetRateLimit().GetPeriodMs() != 60_000 {
		t.Fatalf("OpenTunnel from an enforcing edge = %v, %v; want the rate limit", resp, err)
	}
}
