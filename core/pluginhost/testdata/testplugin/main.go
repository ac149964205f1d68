// Command testplugin serves the plugins pluginhost's tests run as real
// processes: `testplugin plugin NAME`, or the basicauth plugin when run with
// no arguments (as a third-party plugin is).
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/sshgress/sshgress/plugins/basicauth"
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
	case "conflict":
		p = &testPlugin{name: "conflict", flag: "basic-auth"}
	case "misbehave":
		p = &testPlugin{name: "misbehave", flag: "misbehave"}
	case "misnamed":
		p = &testPlugin{name: "other", flag: "misnamed"}
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
