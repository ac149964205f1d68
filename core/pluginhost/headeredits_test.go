package pluginhost

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/sshgress/sshgress/core/usererr"
	"github.com/sshgress/sshgress/sdk"
)

// TestHeaderEditsNoRPC runs the headers plugin as a real process: its
// edits reach the chain canonical, with banner lines naming no value, and
// requests cost no Check call (the plugin has none); with basicauth in the
// same chain, only basicauth is asked.
func TestHeaderEditsNoRPC(t *testing.T) {
	h, _ := startHost(t, []Spec{{Name: "basicauth"}, {Name: "headers"}}, Options{})
	c, err := h.Open(context.Background(), httpTunnel("t1", map[string]map[string][]string{
		"headers": {
			"request-header-add":     {"x-env: secret-token", "X-Env: two"},
			"request-header-remove":  {"referer"},
			"response-header-add":    {"x-frame-options: DENY"},
			"response-header-remove": {"server"},
			"host-header":            {"localhost:3000"},
		},
	}), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer c.Close()
	if c.Empty() {
		t.Fatal("Empty() = true for a chain with header edits")
	}
	want := sdk.HeaderEdits{
		RequestRemove:  []string{"Referer"},
		RequestAdd:     []sdk.HeaderField{{Name: "X-Env", Value: "secret-token"}, {Name: "X-Env", Value: "two"}},
		ResponseRemove: []string{"Server"},
		ResponseAdd:    []sdk.HeaderField{{Name: "X-Frame-Options", Value: "DENY"}},
		Host:           "localhost:3000",
	}
	if got := c.HeaderEdits(); !reflect.DeepEqual(got, want) {
		t.Errorf("HeaderEdits = %+v, want %+v", got, want)
	}
	banner := strings.Join(c.Protection(), "; ")
	if want := "Request headers: remove Referer; add X-Env (headers); Response headers: remove Server; add X-Frame-Options (headers); Host header localhost:3000 (headers)"; banner != want {
		t.Errorf("protection %q, want %q", banner, want)
	}
	if strings.Contains(banner, "secret-token") {
		t.Errorf("the banner %q shows an added value", banner)
	}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			d, err := c.Check(get(""), client, nil)
			if err != nil || d.Respond {
				t.Errorf("Check = %+v, %v; want continue", d, err)
			}
		})
	}
	wg.Wait()
	if got := h.Calls(); got != 0 {
		t.Fatalf("Calls = %d after 50 requests with header edits only, want 0", got)
	}

	both, err := h.Open(context.Background(), httpTunnel("t2", map[string]map[string][]string{
		"headers":   {"request-header-remove": {"Authorization"}},
		"basicauth": {"basic-auth": {"ann:correct-horse"}},
	}), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer both.Close()
	if d, err := both.Check(get(basic("ann", "correct-horse")), client, nil); err != nil || d.Respond || d.Identity == nil {
		t.Fatalf("with credentials: %+v, %v; want continue as ann (the edit applies after the verdict)", d, err)
	}
	if got := h.Calls(); got != 1 {
		t.Errorf("Calls = %d, want 1 (basicauth asked once)", got)
	}
}

// TestHeaderEditsOnlyForHTTP: edits for a tcp tunnel would go unapplied,
// so the tunnel is refused.
func TestHeaderEditsOnlyForHTTP(t *testing.T) {
	h, _ := startHost(t, []Spec{{Name: "headers"}}, Options{})
	tun := httpTunnel("t1", map[string]map[string][]string{"headers": {"response-header-remove": {"Server"}}})
	tun.Command = "tcp"
	if _, err := h.Open(context.Background(), tun, nil); err == nil || !strings.Contains(err.Error(), "sets request rules, which only http endpoints take") {
		t.Fatalf("Open(tcp) = %v, want a refusal", err)
	}
}

// TestAddHeaderEdits: the chain merges plugins' edits within the caps and
// refuses a second Host.
func TestAddHeaderEdits(t *testing.T) {
	c := &Chain{}
	if err := c.addHeaderEdits("a", sdk.HeaderEdits{Host: "localhost", RequestRemove: []string{"x-one"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.addHeaderEdits("b", sdk.HeaderEdits{Host: "other"}); !usererr.Is(err) || !strings.Contains(err.Error(), "the b plugin sets the Host header, which the a plugin sets already") {
		t.Errorf("second Host: %v", err)
	}
	many := make([]string, sdk.MaxHeaderEdits-1)
	for i := range many {
		many[i] = "X-Many"
	}
	if err := c.addHeaderEdits("b", sdk.HeaderEdits{ResponseRemove: many}); !usererr.Is(err) || !strings.Contains(err.Error(), "together are over the edge's bound (64 edits, 8192 bytes)") || !strings.Contains(errors.Unwrap(err).Error(), "65 edits, at most 64") {
		t.Errorf("over the cap together: %v", err)
	}
	if err := c.addHeaderEdits("b", sdk.HeaderEdits{RequestAdd: []sdk.HeaderField{{Name: "X-Forwarded-For", Value: "1"}}}); err == nil {
		t.Error("an edge-owned header was accepted")
	}
	if got := c.HeaderEdits(); !reflect.DeepEqual(got, sdk.HeaderEdits{Host: "localhost", RequestRemove: []string{"X-One"}}) {
		t.Errorf("after refusals: %+v, want the first plugin's edits only", got)
	}
}
