package sdk_test

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sshgress/sshgress/sdk"
	"github.com/sshgress/sshgress/sdk/plugintest"
)

func TestResponseEditsValidate(t *testing.T) {
	many := http.Header{}
	for i := range sdk.MaxHeaderEdits + 1 {
		many.Set("X-H"+strings.Repeat("a", i), "1")
	}
	tests := []struct {
		name string
		e    sdk.ResponseEdits
		want string // "" means valid
	}{
		{"empty", sdk.ResponseEdits{}, ""},
		{"set and remove", sdk.ResponseEdits{SetHeaders: http.Header{"X-Frame-Options": {"DENY"}}, RemoveHeaders: []string{"Server"}}, ""},
		{"location", sdk.ResponseEdits{SetHeaders: http.Header{"Location": {"https://app.example.com/"}}}, ""},
		{"too many", sdk.ResponseEdits{SetHeaders: many}, "header edits, at most"},
		{"too big", sdk.ResponseEdits{SetHeaders: http.Header{"X-Big": {strings.Repeat("a", sdk.MaxHeaderEditBytes)}}}, "bytes, at most"},
		{"bad name", sdk.ResponseEdits{SetHeaders: http.Header{"X A": {"1"}}}, "not a valid header name"},
		{"crlf value", sdk.ResponseEdits{SetHeaders: http.Header{"Location": {"/\r\nSet-Cookie: x=1"}}}, "control character"},
		{"framing", sdk.ResponseEdits{SetHeaders: http.Header{"Content-Length": {"0"}}}, "hop-by-hop or framing"},
		{"hop-by-hop", sdk.ResponseEdits{RemoveHeaders: []string{"connection"}}, "hop-by-hop or framing"},
		{"transfer-encoding", sdk.ResponseEdits{SetHeaders: http.Header{"Transfer-Encoding": {"chunked"}}}, "hop-by-hop or framing"},
		{"edge-owned", sdk.ResponseEdits{SetHeaders: http.Header{"X-Sshgress-User": {"ann"}}}, "edge's own headers"},
		{"negative ttl", sdk.ResponseEdits{Cache: &sdk.CacheHint{TTL: -1}}, "negative"},
		{"bad depends-on", sdk.ResponseEdits{Cache: &sdk.CacheHint{DependsOn: []string{"a b"}, TTL: time.Second}}, "not a valid header name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.e.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestResponseEditsApply(t *testing.T) {
	h := http.Header{"Server": {"x"}, "Set-Cookie": {"a=1"}, "Content-Type": {"text/html"}}
	e := sdk.ResponseEdits{RemoveHeaders: []string{"server", "set-cookie"}, SetHeaders: http.Header{"Set-Cookie": {"b=2"}, "x-new": {"1"}}}
	e.Apply(h)
	want := http.Header{"Set-Cookie": {"b=2"}, "X-New": {"1"}, "Content-Type": {"text/html"}}
	if !reflect.DeepEqual(h, want) {
		t.Errorf("Apply gave %v, want %v", h, want)
	}
}

// reviewer is an HTTP middleware with a response phase that records what it
// receives and answers fixed edits.
type reviewer struct {
	mu    sync.Mutex
	head  *sdk.ResponseHead
	edits sdk.ResponseEdits
	err   error
}

func (r *reviewer) Manifest() sdk.Manifest {
	return sdk.Manifest{Name: "reviewer", Version: "1", Flags: []sdk.FlagSpec{{Name: "review", Type: sdk.FlagBool}}}
}
func (r *reviewer) Configure(context.Context, sdk.Config) error { return nil }
func (r *reviewer) Check(context.Context, *sdk.Request) (sdk.Verdict, error) {
	return sdk.Verdict{Continue: &sdk.Continue{}}, nil
}
func (r *reviewer) ReviewResponse(_ context.Context, head *sdk.ResponseHead) (sdk.ResponseEdits, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.head = head
	return r.edits, r.err
}

var _ sdk.ResponseReviewer = (*reviewer)(nil)

func TestReviewResponseRoundTrip(t *testing.T) {
	r := &reviewer{}
	h := plugintest.Start(t, r)
	if m := h.Manifest(); !m.HTTPMiddleware || !m.ResponseHead {
		t.Fatalf("manifest has HTTPMiddleware %v, ResponseHead %v; want both set from the type", m.HTTPMiddleware, m.ResponseHead)
	}

	r.edits = sdk.ResponseEdits{
		SetHeaders:    http.Header{"Strict-Transport-Security": {"max-age=63072000"}, "Set-Cookie": {"a=1", "b=2"}},
		RemoveHeaders: []string{"Server"},
		Cache:         &sdk.CacheHint{DependsOn: []string{"Content-Type"}, TTL: 1500 * time.Millisecond},
	}
	head := plugintest.NewResponseHead("t1", "https://app.localhost/a%2Fb", 201, "Content-Type", "text/html", "X-Multi", "1", "X-Multi", "2")
	head.Identity = &sdk.Identity{ID: "1", Name: "Ann", Email: "ann@example.com"}
	got, err := h.ReviewResponse(head)
	if err != nil {
		t.Fatalf("ReviewResponse: %v", err)
	}
	if !reflect.DeepEqual(r.head, head) {
		t.Errorf("plugin got head %+v, want %+v", r.head, head)
	}
	if !reflect.DeepEqual(got, r.edits) {
		t.Errorf("edits = %+v, want %+v", got, r.edits)
	}

	// No answer but the zero value: no edits, no cache, an empty header.
	r.edits = sdk.ResponseEdits{}
	if got, err := h.ReviewResponse(&sdk.ResponseHead{TunnelID: "t1", Status: 204}); err != nil || !got.Empty() || got.Cache != nil {
		t.Errorf("ReviewResponse = %+v, %v; want no edits", got, err)
	}
	if r.head.Header == nil || r.head.Identity != nil {
		t.Errorf("plugin got header %v and identity %v, want an empty header and none", r.head.Header, r.head.Identity)
	}

	r.edits = sdk.ResponseEdits{SetHeaders: http.Header{"Content-Length": {"1"}}}
	if _, err := h.ReviewResponse(head); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("ReviewResponse with a framing edit = %v, want the harness to reject it like the edge", err)
	}
	r.edits, r.err = sdk.ResponseEdits{}, errors.New("reviewer: broken")
	if _, err := h.ReviewResponse(head); err == nil || err.Error() != "review response: reviewer: broken" {
		t.Errorf("ReviewResponse error = %v, want %q", err, "review response: reviewer: broken")
	}
}

// TestReviewResponseNeedsAMiddleware: a plain middleware does not claim
// the response phase, and a manifest claiming it without being a
// middleware is invalid.
func TestReviewResponseNeedsAMiddleware(t *testing.T) {
	h := plugintest.Start(t, &echo{})
	if h.Manifest().ResponseHead {
		t.Error("echo, which has no ReviewResponse, claims the response phase")
	}
	m := sdk.Manifest{Name: "x", APIVersion: sdk.APIVersion, ResponseHead: true}
	if err := m.Validate(); err == nil || !strings.Contains(err.Error(), "must be an http middleware") {
		t.Errorf("Validate = %v, want a refusal of ResponseHead without HTTPMiddleware", err)
	}
}
