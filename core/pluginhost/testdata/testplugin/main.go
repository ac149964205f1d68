// Command testplugin serves the plugins pluginhost's tests run as real
// processes: `testplugin plugin NAME`, or the basicauth plugin when run with
// no arguments (as a third-party plugin is).
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sshgress/sshgress/plugins/basicauth"
	"github.com/sshgress/sshgress/plugins/headers"
	"github.com/sshgress/sshgress/plugins/ipfilter"
	"github.com/sshgress/sshgress/plugins/verifywebhook"
	"github.com/sshgress/sshgress/sdk"
)

func main() {
	name := "basicauth"
	if len(os.Args) == 3 && os.Args[1] == "plugin" {
		name = os.Args[2]
	}
	var p sdk.Plugin
	switch name {
	case "basicauth":
		p = basicauth.New()
	case "ipfilter":
		p = ipfilter.New()
	case "headers":
		p = headers.New()
	case "verifywebhook":
		p = verifywebhook.New()
	case "conflict":
		p = &testPlugin{name: "conflict", flag: "basic-auth"}
	case "misbehave":
		p = &testPlugin{name: "misbehave", flag: "misbehave"}
	case "misnamed":
		p = &testPlugin{name: "other", flag: "misnamed"}
	case "reviewer":
		p = &reviewPlugin{testPlugin{name: "reviewer", flag: "review"}}
	case "game":
		p = &gamePlugin{name: "game", declare: true}
	case "undeclared":
		p = &gamePlugin{name: "undeclared"}
	default:
		fmt.Fprintf(os.Stderr, "testplugin: no plugin %q\n", name)
		os.Exit(2)
	}
	sdk.Serve(p)
}

// testPlugin is a middleware whose behaviour is chosen per tunnel by the
// value of its flag: "ok", "slow", "status", "empty", "panic", "refuse".
type testPlugin struct {
	name, flag string
	mu         sync.Mutex
	modes      map[string]string
}

func (p *testPlugin) Manifest() sdk.Manifest {
	return sdk.Manifest{Name: p.name, Version: "0.0.1", Flags: []sdk.FlagSpec{{
		Name: p.flag, Type: sdk.FlagString, Help: "Test behaviour.", Commands: []string{"http"},
	}}}
}

func (p *testPlugin) Configure(context.Context, sdk.Config) error {
	p.mu.Lock()
	p.modes = map[string]string{}
	p.mu.Unlock()
	return nil
}

func (p *testPlugin) OpenTunnel(_ context.Context, t sdk.Tunnel) (sdk.OpenResult, error) {
	mode := t.Values[p.flag]
	if len(mode) != 1 || mode[0] == "refuse" {
		return sdk.OpenResult{}, sdk.UserErrorf("--%s \x1b[31mrefused\x1b[0m", p.flag)
	}
	p.mu.Lock()
	p.modes[t.ID] = mode[0]
	p.mu.Unlock()
	return sdk.OpenResult{Protection: "test " + mode[0]}, nil
}

func (p *testPlugin) CloseTunnel(_ context.Context, id string) error {
	p.mu.Lock()
	delete(p.modes, id)
	p.mu.Unlock()
	return nil
}

func (p *testPlugin) Check(ctx context.Context, req *sdk.Request) (sdk.Verdict, error) {
	p.mu.Lock()
	mode := p.modes[req.TunnelID]
	p.mu.Unlock()
	switch mode {
	case "ok":
		return sdk.Verdict{
			Continue: &sdk.Continue{SetHeaders: http.Header{"X-Test": {"ok"}}},
			Cache:    &sdk.CacheHint{TTL: time.Hour},
		}, nil
	case "slow":
		// gRPC hands the plugin a deadline slightly ahead of the host's: a
		// verdict sent the moment it passes could still arrive in time, so
		// a slow plugin in this test never answers with one.
		select {
		case <-time.After(5 * time.Second):
			return sdk.Verdict{Continue: &sdk.Continue{}}, nil
		case <-ctx.Done():
			return sdk.Verdict{}, ctx.Err()
		}
	case "status":
		return sdk.Verdict{Respond: &sdk.Response{Status: 42}}, nil
	case "empty":
		return sdk.Verdict{}, nil
	case "panic":
		panic("test panic")
	}
	return sdk.Verdict{}, fmt.Errorf("testplugin: tunnel %q is not open", req.TunnelID)
}

// reviewPlugin is a middleware with a response phase; its flag's value
// picks its answers per tunnel: "ok" (Check continues; ReviewResponse
// marks HTML responses with X-Reviewed: STATUS and the identity's ID in
// X-Reviewed-For, removes Server, cached by Content-Type), "nocache" (the
// same, never cached), "slow", "nonsense" (sets Content-Length), "fail".
type reviewPlugin struct{ testPlugin }

func (p *reviewPlugin) Check(context.Context, *sdk.Request) (sdk.Verdict, error) {
	return sdk.Verdict{Continue: &sdk.Continue{}, Cache: &sdk.CacheHint{TTL: time.Hour}}, nil
}

func (p *reviewPlugin) ReviewResponse(ctx context.Context, head *sdk.ResponseHead) (sdk.ResponseEdits, error) {
	p.mu.Lock()
	mode := p.modes[head.TunnelID]
	p.mu.Unlock()
	switch mode {
	case "ok", "nocache":
		e := sdk.ResponseEdits{RemoveHeaders: []string{"Server"}}
		if strings.HasPrefix(head.Header.Get("Content-Type"), "text/html") {
			e.SetHeaders = http.Header{"X-Reviewed": {strconv.Itoa(head.Status)}}
			if head.Identity != nil {
				e.SetHeaders.Set("X-Reviewed-For", head.Identity.ID)
			}
		}
		if mode == "ok" {
			e.Cache = &sdk.CacheHint{DependsOn: []string{"Content-Type"}, TTL: time.Hour}
		}
		return e, nil
	case "slow":
		select {
		case <-time.After(5 * time.Second):
			return sdk.ResponseEdits{}, nil
		case <-ctx.Done():
			return sdk.ResponseEdits{}, ctx.Err()
		}
	case "nonsense":
		return sdk.ResponseEdits{SetHeaders: http.Header{"Content-Length": {"0"}}}, nil
	}
	return sdk.ResponseEdits{}, fmt.Errorf("testplugin: review of tunnel %q failed", head.TunnelID)
}

// gamePlugin is a third-party endpoint plugin that describes its endpoint
// type ("game") and serves a host of its own, games.<base domain>; with
// declare false its manifest omits both, yet Configure still answers the
// host.
type gamePlugin struct {
	name    string
	declare bool
	mu      sync.Mutex
	base    string
}

func (p *gamePlugin) Manifest() sdk.Manifest {
	m := sdk.Manifest{Name: p.name, Version: "0.0.1", EndpointTypes: []string{"game"}}
	if p.declare {
		m.EndpointTypes = nil
		m.EndpointTypeSpecs = []sdk.EndpointTypeSpec{{
			Name: "game", Summary: "Publish a local game server at a public port", Ports: "25565 or 0",
			RemotePorts: []uint32{25565, 0}, Example: "ssh -R 0:localhost:25565 v2@{host} game",
		}}
		m.ServedHosts = []sdk.ServedHost{{Label: "games"}}
	}
	return m
}

func (p *gamePlugin) Configure(_ context.Context, cfg sdk.Config) error {
	p.mu.Lock()
	p.base = cfg.BaseDomain
	p.mu.Unlock()
	return nil
}

func (p *gamePlugin) ServedHosts() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return []string{"Games." + p.base + "."}
}

func (p *gamePlugin) Bind(_ context.Context, req sdk.BindRequest) (sdk.Binding, error) {
	return sdk.Binding{Kind: sdk.KindTCP, PortMin: 30000, PortMax: 30009}, nil
}

func (p *gamePlugin) Unbind(context.Context, string) error { return nil }
