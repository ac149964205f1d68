package pluginhost

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sshgress/sshgress/sdk"
)

func reviewTunnel(id, mode string) Tunnel {
	return httpTunnel(id, map[string]map[string][]string{"reviewer": {"review": {mode}}})
}

func TestReviewResponseEdits(t *testing.T) {
	h, _ := startHost(t, []Spec{{Name: "reviewer"}, {Name: "basicauth"}}, Options{})
	c, err := h.Open(context.Background(), reviewTunnel("t1", "nocache"), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer c.Close()
	if !c.ReviewsResponses() {
		t.Fatal("ReviewsResponses = false for a chain with a response-phase plugin")
	}
	tests := []struct {
		name   string
		status int
		ctype  string
		id     *sdk.Identity
		want   http.Header
	}{
		{"html", 200, "text/html; charset=utf-8", nil, http.Header{"Content-Type": {"text/html; charset=utf-8"}, "X-Reviewed": {"200"}}},
		{"html with identity", 404, "text/html", &sdk.Identity{ID: "ann"}, http.Header{"Content-Type": {"text/html"}, "X-Reviewed": {"404"}, "X-Reviewed-For": {"ann"}}},
		{"json", 200, "application/json", nil, http.Header{"Content-Type": {"application/json"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := http.Header{"Content-Type": {tt.ctype}, "Server": {"local"}}
			if err := c.ReviewResponse(get(""), tt.status, resp, tt.id); err != nil {
				t.Fatalf("ReviewResponse: %v", err)
			}
			if len(resp) != len(tt.want) {
				t.Errorf("headers = %v, want %v", resp, tt.want)
			}
			for k, v := range tt.want {
				if got := strings.Join(resp[k], ","); got != strings.Join(v, ",") {
					t.Errorf("%s = %q, want %q (headers %v)", k, got, v, resp)
				}
			}
		})
	}

	// A chain without a response-phase plugin costs no call.
	plain, err := h.Open(context.Background(), basicTunnel("t2", "ann:correct-horse"), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer plain.Close()
	before := h.Calls()
	resp := http.Header{"Server": {"local"}}
	if plain.ReviewsResponses() || plain.ReviewResponse(get(""), 200, resp, nil) != nil || resp.Get("Server") != "local" || h.Calls() != before {
		t.Errorf("a chain without a response phase reviewed the response: headers %v, calls %d -> %d", resp, before, h.Calls())
	}
}

func TestReviewResponseCache(t *testing.T) {
	h, _ := startHost(t, []Spec{{Name: "reviewer"}}, Options{})
	c, err := h.Open(context.Background(), reviewTunnel("t1", "ok"), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer c.Close()
	steps := []struct {
		status       int
		ctype, other string
		wantCalls    uint64
		wantReviewed string
	}{
		{200, "text/html", "a", 1, "200"},
		{200, "text/html", "b", 1, "200"},     // cached: only Content-Type counts
		{200, "application/json", "a", 2, ""}, // another Content-Type
		{404, "text/html", "a", 3, "404"},     // the status is part of the key
		{404, "text/html", "c", 3, "404"},     // cached
		{200, "application/json", "z", 3, ""}, // cached
		{201, "application/json", "z", 4, ""}, // another status
		{200, "text/html; charset=utf-8", "", 5, "200"},
	}
	for i, s := range steps {
		resp := http.Header{"Content-Type": {s.ctype}, "Etag": {s.other}}
		if err := c.ReviewResponse(get(""), s.status, resp, nil); err != nil {
			t.Fatalf("step %d: ReviewResponse: %v", i, err)
		}
		if got := resp.Get("X-Reviewed"); got != s.wantReviewed {
			t.Errorf("step %d: X-Reviewed = %q, want %q", i, got, s.wantReviewed)
		}
		if got := h.Calls(); got != s.wantCalls {
			t.Errorf("step %d: Calls = %d, want %d", i, got, s.wantCalls)
		}
	}
	// Edits applied from the cache must not share their values with it.
	resp := http.Header{"Content-Type": {"text/html"}}
	_ = c.ReviewResponse(get(""), 200, resp, nil)
	resp["X-Reviewed"][0] = "tampered"
	resp = http.Header{"Content-Type": {"text/html"}}
	_ = c.ReviewResponse(get(""), 200, resp, nil)
	if got := resp.Get("X-Reviewed"); got != "200" {
		t.Errorf("after editing an applied value, the cached edit gives %q, want 200", got)
	}
}

// TestReviewResponseFailsClosed: a plugin that is down, late, failing or
// answering nonsense is an error, never an unreviewed response.
func TestReviewResponseFailsClosed(t *testing.T) {
	h, _ := startHost(t, []Spec{{Name: "reviewer"}}, Options{CallTimeout: 100 * time.Millisecond})
	for _, mode := range []string{"slow", "nonsense", "fail"} {
		t.Run(mode, func(t *testing.T) {
			c, err := h.Open(context.Background(), reviewTunnel("t-"+mode, mode), nil)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer c.Close()
			err = c.ReviewResponse(get(""), 200, http.Header{"Content-Type": {"text/html"}}, nil)
			if err == nil || !strings.Contains(err.Error(), `plugin "reviewer"`) {
				t.Errorf("ReviewResponse = %v, want an error naming the plugin", err)
			}
		})
	}
	t.Run("down", func(t *testing.T) {
		c, err := h.Open(context.Background(), reviewTunnel("t-down", "ok"), nil)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer c.Close()
		p := h.plugins["reviewer"]
		inst := p.cur.Swap(nil) // what the supervisor does while it restarts a plugin
		err = c.ReviewResponse(get(""), 200, http.Header{"Content-Type": {"text/html"}}, nil)
		p.cur.Store(inst)
		if !errors.Is(err, errPluginDown) {
			t.Errorf("ReviewResponse with the plugin down = %v, want errPluginDown", err)
		}
	})
	t.Run("closed chain", func(t *testing.T) {
		c, err := h.Open(context.Background(), reviewTunnel("t-closed", "ok"), nil)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		c.Close()
		if err := c.ReviewResponse(get(""), 200, http.Header{}, nil); err == nil {
			t.Error("ReviewResponse on a closed chain = nil, want an error")
		}
	})
}
