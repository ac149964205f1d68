package pluginhost

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/sshgress/sshgress/core/usererr"
	"github.com/sshgress/sshgress/sdk"
)

// addHeaderEdits validates one plugin's static header edits (part of its
// sdk.StaticRules) and appends them to the chain's, which the HTTP edge
// applies itself to every request and response of the tunnel: no RPC per
// request. Names are made canonical. The chain's edits together stay
// within the SDK's caps, and at most one plugin sets the Host.
func (c *Chain) addHeaderEdits(plugin string, e sdk.HeaderEdits) error {
	if e.Empty() {
		return nil
	}
	if err := e.Validate(); err != nil {
		return err
	}
	m := &c.edits
	if e.Host != "" && m.Host != "" {
		return usererr.Errorf("the %s plugin sets the Host header, which the %s plugin sets already; leave the flags of one of them out", plugin, c.hostBy)
	}
	canon := func(names []string) []string {
		out := make([]string, len(names))
		for i, n := range names {
			out[i] = http.CanonicalHeaderKey(n)
		}
		return out
	}
	fields := func(fs []sdk.HeaderField) []sdk.HeaderField {
		out := make([]sdk.HeaderField, len(fs))
		for i, f := range fs {
			out[i] = sdk.HeaderField{Name: http.CanonicalHeaderKey(f.Name), Value: f.Value}
		}
		return out
	}
	merged := sdk.HeaderEdits{
		RequestRemove:  append(m.RequestRemove, canon(e.RequestRemove)...),
		RequestAdd:     append(m.RequestAdd, fields(e.RequestAdd)...),
		ResponseRemove: append(m.ResponseRemove, canon(e.ResponseRemove)...),
		ResponseAdd:    append(m.ResponseAdd, fields(e.ResponseAdd)...),
		Host:           m.Host,
	}
	if e.Host != "" {
		merged.Host, c.hostBy = e.Host, plugin
	}
	if err := merged.Validate(); err != nil {
		return usererr.Wrap(fmt.Errorf("pluginhost: the tunnel's header edits together: %w", err),
			fmt.Sprintf("the header edits of this tunnel's plugins together are over the edge's bound (%d edits, %d bytes); give fewer", sdk.MaxHeaderEdits, sdk.MaxHeaderEditBytes))
	}
	*m = merged
	c.protection = append(c.protection, headerEditsProtection(plugin, e)...)
	return nil
}

// HeaderEdits returns the static header edits of the chain's plugins, in
// plugin name order, with canonical names; zero when none. The caller
// must not modify the slices.
func (c *Chain) HeaderEdits() sdk.HeaderEdits { return c.edits }

// headerEditsProtection describes one plugin's edits for the banner, e.g.
// "Request headers: remove Referer; add X-Env (headers)". Names only:
// an added value may be a credential for the service.
func headerEditsProtection(plugin string, e sdk.HeaderEdits) []string {
	var out []string
	side := func(what string, remove []string, add []sdk.HeaderField) {
		var parts []string
		if len(remove) > 0 {
			parts = append(parts, "remove "+strings.Join(canonNames(remove), ", "))
		}
		if len(add) > 0 {
			names := make([]string, 0, len(add))
			for _, f := range add {
				names = append(names, f.Name)
			}
			parts = append(parts, "add "+strings.Join(canonNames(names), ", "))
		}
		if len(parts) > 0 {
			out = append(out, what+" headers: "+strings.Join(parts, "; "))
		}
	}
	side("Request", e.RequestRemove, e.RequestAdd)
	side("Response", e.ResponseRemove, e.ResponseAdd)
	if e.Host != "" {
		out = append(out, "Host header "+e.Host)
	}
	for i := range out {
		out[i] = userText(out[i] + " (" + plugin + ")")
	}
	return out
}

// canonNames returns names canonical and without repeats.
func canonNames(names []string) []string {
	out := make([]string, 0, len(names))
	seen := map[string]bool{}
	for _, n := range names {
		n = http.CanonicalHeaderKey(n)
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}
