package compress

import "testing"

func TestCompressible(t *testing.T) {
	tests := []struct {
		ct   string
		want bool
	}{
		{"text/html", true},
		{"text/html; charset=utf-8", true},
		{"TEXT/CSS", true},
		{"text/plain", true},
		{"application/json", true},
		{"application/problem+json", true},
		{"application/javascript", true},
		{"application/xml", true},
		{"application/atom+xml", true},
		{"image/svg+xml", true},
		{"application/wasm", true},
		{"text/event-stream", false},
		{"image/png", false},
		{"image/jpeg", false},
		{"font/woff2", false},
		{"application/octet-stream", false},
		{"application/zip", false},
		{"application/gzip", false},
		{"video/mp4", false},
		{"", false},
		{"text", false},
		{"/json", false},
		{"text/", false},
	}
	for _, tt := range tests {
		if got := Compressible(tt.ct); got != tt.want {
			t.Errorf("Compressible(%q) = %v, want %v", tt.ct, got, tt.want)
		}
	}
}
