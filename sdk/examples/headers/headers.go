package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sshgress/sshgress/sdk"
)

const (
	flagAdd    = "request-header-add"
	flagRemove = "request-header-remove"
	// maxEdits bounds how often each flag may be given.
	maxEdits = 20
	// cacheTTL is how long the edge may reuse a verdict: the edits depend
	// on the tunnel's flags only, never on the request.
	cacheTTL = 5 * time.Minute
)

// edgeOwned are headers the edge manages; editing them is refused.
var edgeOwned = map[string]bool{
	"Host": true, "Content-Length": true, "Transfer-Encoding": true,
	"Connection": true, "Te": true, "Trailer": true,
}

// edits are one tunnel's header edits.
type edits struct {
	set    http.Header
	remove []string
}

// headersPlugin implements sdk.HTTPMiddleware.
type headersPlugin struct {
	mu        sync.RWMutex
	protected map[string]bool // header names users may not touch
	tunnels   map[string]edits
}

var (
	_ sdk.HTTPMiddleware = (*headersPlugin)(nil)
	_ sdk.TunnelHooks    = (*headersPlugin)(nil)
)

func newPlugin() *headersPlugin {
	return &headersPlugin{tunnels: make(map[string]edits), protected: map[string]bool{}}
}

// Manifest declares the two flags, for http tunnels only.
func (p *headersPlugin) Manifest() sdk.Manifest {
	return sdk.Manifest{
		Name:    "headers",
		Version: "0.1.0",
		Flags: []sdk.FlagSpec{
			{
				Name: flagAdd, Type: sdk.FlagString, Repeatable: true, ValueName: "NAME: VALUE",
				Help:     "Set a request header before the request goes upstream (replaces the visitor's).",
				Commands: []string{"http"},
			},
			{
				Name: flagRemove, Type: sdk.FlagString, Repeatable: true, ValueName: "NAME",
				Help:     "Remove a request header before the request goes upstream.",
				Commands: []string{"http"},
			},
		},
	}
}

// Configure reads the optional "protected" list: header names users may
// neither add nor remove (e.g. identity headers another plugin sets).
func (p *headersPlugin) Configure(_ context.Context, cfg sdk.Config) error {
	protected := map[string]bool{}
	for key, v := range cfg.Section {
		if key != "protected" {
			return fmt.Errorf("headers: configure: unknown setting %q", key)
		}
		list, ok := v.([]any)
		if !ok {
			return fmt.Errorf("headers: configure: protected must be a list of header names")
		}
		for _, item := range list {
			name, ok := item.(string)
			if !ok || !validName(name) {
				return fmt.Errorf("headers: configure: protected: %v is not a header name", item)
			}
			protected[http.CanonicalHeaderKey(name)] = true
		}
	}
	p.mu.Lock()
	p.protected = protected
	p.mu.Unlock()
	if cfg.Logger != nil {
		cfg.Logger.Info("configured", "protected_headers", len(protected))
	}
	return nil
}

// OpenTunnel parses and checks the tunnel's flags.
func (p *headersPlugin) OpenTunnel(_ context.Context, t sdk.Tunnel) (sdk.OpenResult, error) {
	p.mu.RLock()
	protected := p.protected
	p.mu.RUnlock()
	e, err := parseEdits(t.Values[flagAdd], t.Values[flagRemove], protected)
	if err != nil {
		return sdk.OpenResult{}, err
	}
	p.mu.Lock()
	p.tunnels[t.ID] = e
	p.mu.Unlock()
	return sdk.OpenResult{Protection: describe(e)}, nil
}

// CloseTunnel forgets the tunnel's edits.
func (p *headersPlugin) CloseTunnel(_ context.Context, id string) error {
	p.mu.Lock()
	delete(p.tunnels, id)
	p.mu.Unlock()
	return nil
}

// Check lets every request continue with the tunnel's edits. The verdict
// depends on no request header, so the edge caches it for the tunnel.
func (p *headersPlugin) Check(_ context.Context, req *sdk.Request) (sdk.Verdict, error) {
	p.mu.RLock()
	e, ok := p.tunnels[req.TunnelID]
	p.mu.RUnlock()
	if !ok {
		return sdk.Verdict{}, fmt.Errorf("headers: check: tunnel %q is not open", req.TunnelID)
	}
	return sdk.Verdict{
		Continue: &sdk.Continue{SetHeaders: e.set, RemoveHeaders: e.remove},
		Cache:    &sdk.CacheHint{TTL: cacheTTL},
	}, nil
}

// parseEdits turns the flag values into edits. Its errors are user errors:
// the edge shows them in the user's SSH session.
func parseEdits(add, remove []string, protected map[string]bool) (edits, error) {
	var e edits
	if len(add) > maxEdits {
		return e, sdk.UserErrorf("--%s can be given at most %d times (got %d)", flagAdd, maxEdits, len(add))
	}
	if len(remove) > maxEdits {
		return e, sdk.UserErrorf("--%s can be given at most %d times (got %d)", flagRemove, maxEdits, len(remove))
	}
	for _, v := range add {
		name, value, ok := strings.Cut(v, ":")
		if !ok {
			return e, sdk.UserErrorf("--%s needs \"NAME: VALUE\" (got no \":\")", flagAdd)
		}
		name, value = strings.TrimSpace(name), strings.Trim(value, " \t")
		if err := checkName(flagAdd, name, protected); err != nil {
			return e, err
		}
		if !validValue(value) {
			return e, sdk.UserErrorf("--%s value for %q must not contain control characters", flagAdd, name)
		}
		if e.set == nil {
			e.set = http.Header{}
		}
		e.set.Add(name, value)
	}
	for _, name := range remove {
		name = strings.TrimSpace(name)
		if err := checkName(flagRemove, name, protected); err != nil {
			return e, err
		}
		e.remove = append(e.remove, http.CanonicalHeaderKey(name))
	}
	return e, nil
}

func checkName(flag, name string, protected map[string]bool) error {
	canonical := http.CanonicalHeaderKey(name)
	switch {
	case !validName(name):
		return sdk.UserErrorf("--%s: %q is not a valid header name", flag, name)
	case edgeOwned[canonical]:
		return sdk.UserErrorf("--%s: %s is managed by the edge", flag, canonical)
	case protected[canonical]:
		return sdk.UserErrorf("--%s: %s is protected on this server", flag, canonical)
	}
	return nil
}

// validName reports whether s is an RFC 9110 token.
func validName(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validValue reports whether s is a header value without control
// characters (tab allowed).
func validValue(s string) bool {
	if len(s) > 4096 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// describe is the banner line, naming headers but never values (a value
// may be a token).
func describe(e edits) string {
	var parts []string
	if n := len(e.set); n > 0 {
		parts = append(parts, fmt.Sprintf("%d set", n))
	}
	if n := len(e.remove); n > 0 {
		parts = append(parts, fmt.Sprintf("%d removed", n))
	}
	if len(parts) == 0 {
		return ""
	}
	return "request headers (" + strings.Join(parts, ", ") + ")"
}
