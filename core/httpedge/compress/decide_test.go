package compress

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
)

func TestDecide(t *testing.T) {
	base := func() http.Header {
		return http.Header{"Content-Type": {"text/html"}, "Content-Length": {"5000"}, "Etag": {`"v1"`}, "Accept-Ranges": {"bytes"}}
	}
	tests := []struct {
		name     string
		method   string
		req      http.Header
		status   int
		length   int64
		edit     func(http.Header)
		want     Coding
		wantVary bool // Vary: Accept-Encoding added
	}{
		{name: "gzip", req: http.Header{"Accept-Encoding": {"gzip"}}, want: Gzip, wantVary: true},
		{name: "br", req: http.Header{"Accept-Encoding": {"br"}}, want: Brotli, wantVary: true},
		{name: "not accepted still varies", req: http.Header{}, wantVary: true},
		{name: "201", status: 201, req: http.Header{"Accept-Encoding": {"gzip"}}, want: Gzip, wantVary: true},
		{name: "unknown length", length: -1, req: http.Header{"Accept-Encoding": {"gzip"}}, want: Gzip, wantVary: true},
		{name: "204", status: 204, req: http.Header{"Accept-Encoding": {"gzip"}}},
		{name: "206", status: 206, req: http.Header{"Accept-Encoding": {"gzip"}}},
		{name: "304", status: 304, req: http.Header{"Accept-Encoding": {"gzip"}}},
		{name: "404", status: 404, req: http.Header{"Accept-Encoding": {"gzip"}}},
		{name: "HEAD", method: http.MethodHead, req: http.Header{"Accept-Encoding": {"gzip"}}},
		{name: "range request", req: http.Header{"Accept-Encoding": {"gzip"}, "Range": {"bytes=0-9"}}},
		{name: "small", length: MinSize - 1, req: http.Header{"Accept-Encoding": {"gzip"}}},
		{name: "empty", length: 0, req: http.Header{"Accept-Encoding": {"gzip"}}},
		{name: "at the minimum", length: MinSize, req: http.Header{"Accept-Encoding": {"gzip"}}, want: Gzip, wantVary: true},
		{name: "already encoded", req: http.Header{"Accept-Encoding": {"gzip"}}, edit: func(h http.Header) { h.Set("Content-Encoding", "br") }},
		{name: "content range", req: http.Header{"Accept-Encoding": {"gzip"}}, edit: func(h http.Header) { h.Set("Content-Range", "bytes 0-9/10") }},
		{name: "no-transform", req: http.Header{"Accept-Encoding": {"gzip"}}, edit: func(h http.Header) { h.Set("Cache-Control", "public, No-Transform") }},
		{name: "image", req: http.Header{"Accept-Encoding": {"gzip"}}, edit: func(h http.Header) { h.Set("Content-Type", "image/png") }},
		{name: "event stream", req: http.Header{"Accept-Encoding": {"gzip"}}, edit: func(h http.Header) { h.Set("Content-Type", "text/event-stream") }},
		{name: "no type", req: http.Header{"Accept-Encoding": {"gzip"}}, edit: func(h http.Header) { delete(h, "Content-Type") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method, status, length := tt.method, tt.status, tt.length
			if method == "" {
				method = http.MethodGet
			}
			if status == 0 {
				status = http.StatusOK
			}
			if length == 0 && tt.name != "empty" {
				length = 5000
			}
			r := httptest.NewRequest(method, "/", nil)
			r.Header = tt.req
			h := base()
			if tt.edit != nil {
				tt.edit(h)
			}
			before := h.Clone()
			got := decide(r, status, length, h)
			if got != tt.want {
				t.Fatalf("decide = %q, want %q", got, tt.want)
			}
			if vary := h.Values("Vary"); tt.wantVary != reflect.DeepEqual(vary, []string{"Accept-Encoding"}) {
				t.Errorf("Vary = %q, want Accept-Encoding added: %v", vary, tt.wantVary)
			}
			if got == Identity {
				delete(h, "Vary")
				if !reflect.DeepEqual(h, before) {
					t.Errorf("header changed beyond Vary for identity: %v, was %v", h, before)
				}
				return
			}
			if ce := h.Get("Content-Encoding"); ce != string(got) {
				t.Errorf("Content-Encoding = %q, want %q", ce, got)
			}
			for _, k := range []string{"Content-Length", "Accept-Ranges"} {
				if v, ok := h[k]; ok {
					t.Errorf("%s = %q, want it removed", k, v)
				}
			}
			if et := h.Get("Etag"); et != `W/"v1"` {
				t.Errorf("ETag = %q, want it weak", et)
			}
		})
	}
}

func TestDecideHeaders(t *testing.T) {
	tests := []struct {
		name     string
		vary     []string
		etag     string
		wantVary []string
		wantETag string
	}{
		{"no vary", nil, `"a"`, []string{"Accept-Encoding"}, `W/"a"`},
		{"vary appended", []string{"Origin"}, `W/"a"`, []string{"Origin", "Accept-Encoding"}, `W/"a"`},
		{"vary has it", []string{"origin, accept-encoding"}, "", []string{"origin, accept-encoding"}, ""},
		{"vary star", []string{"*"}, `"b"`, []string{"*"}, `W/"b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{"Content-Type": {"application/json"}}
			if tt.vary != nil {
				h["Vary"] = tt.vary[:len(tt.vary):len(tt.vary)]
			}
			shared := h["Vary"]
			if tt.etag != "" {
				h.Set("Etag", tt.etag)
			}
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("Accept-Encoding", "gzip")
			if got := decide(r, 200, -1, h); got != Gzip {
				t.Fatalf("decide = %q, want gzip", got)
			}
			if got := h["Vary"]; !reflect.DeepEqual(got, tt.wantVary) {
				t.Errorf("Vary = %q, want %q", got, tt.wantVary)
			}
			if !reflect.DeepEqual(shared, tt.vary) && tt.vary != nil {
				t.Errorf("the upstream's Vary slice was written in place: %q", shared)
			}
			if got := h.Get("Etag"); got != tt.wantETag {
				t.Errorf("ETag = %q, want %q", got, tt.wantETag)
			}
		})
	}
}
