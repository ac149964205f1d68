package compress

import (
	"strings"
	"testing"
)

func TestNegotiate(t *testing.T) {
	tests := []struct {
		name   string
		accept []string
		want   Coding
	}{
		{"no header", nil, Identity},
		{"empty header", []string{""}, Identity},
		{"gzip", []string{"gzip"}, Gzip},
		{"x-gzip", []string{"x-gzip"}, Gzip},
		{"case-insensitive", []string{"GZip"}, Gzip},
		{"br", []string{"br"}, Brotli},
		{"curl --compressed", []string{"deflate, gzip, br, zstd"}, Gzip},
		{"browser", []string{"gzip, deflate, br, zstd"}, Gzip},
		{"equal q prefers gzip", []string{"br;q=0.8, gzip;q=0.8"}, Gzip},
		{"br preferred by q", []string{"gzip;q=0.9, br"}, Brotli},
		{"higher q wins", []string{"br;q=0.5, gzip;q=0.9"}, Gzip},
		{"q with spaces", []string{"br ; q = 0.2 , gzip ; q=0.3"}, Gzip},
		{"q=0 refuses", []string{"gzip;q=0"}, Identity},
		{"q=0.000 refuses", []string{"br;q=0.000, gzip;q=0"}, Identity},
		{"only unknown", []string{"deflate, zstd"}, Identity},
		{"identity only", []string{"identity"}, Identity},
		{"star", []string{"*"}, Gzip},
		{"star with gzip refused", []string{"*, gzip;q=0"}, Brotli},
		{"star q=0", []string{"*;q=0"}, Identity},
		{"star q=0 but gzip named", []string{"*;q=0, gzip"}, Gzip},
		{"identity preferred", []string{"gzip;q=0.5, identity;q=1"}, Identity},
		{"identity refused", []string{"gzip, identity;q=0"}, Gzip},
		{"identity lower", []string{"gzip;q=0.9, identity;q=0.1"}, Gzip},
		{"several fields", []string{"deflate", "gzip"}, Gzip},
		{"bad q ignored", []string{"br;q=2, gzip"}, Gzip},
		{"bad q text", []string{"br;q=high, gzip;q=0.1"}, Gzip},
		{"q above 1", []string{"br;q=1.001, gzip;q=0.5"}, Gzip},
		{"q 1.000", []string{"br;q=1.000"}, Brotli},
		{"q too long", []string{"br;q=0.0001, gzip;q=0.001"}, Gzip},
		{"other params", []string{"br;level=3;q=0.1, gzip;q=0.05"}, Brotli},
		{"empty elements", []string{", ,gzip,,"}, Gzip},
		{"repeated name keeps the highest", []string{"gzip;q=0.1, br;q=0.5, gzip;q=0.9"}, Gzip},
		{"elements past the bound ignored", []string{strings.Repeat("x,", maxAcceptElements) + "gzip"}, Identity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Negotiate(tt.accept); got != tt.want {
				t.Errorf("Negotiate(%q) = %q, want %q", tt.accept, got, tt.want)
			}
		})
	}
}

func TestQValue(t *testing.T) {
	tests := []struct {
		in   string
		want int
		ok   bool
	}{
		{"0", 0, true}, {"1", 1000, true}, {"0.", 0, true}, {"1.", 1000, true},
		{"0.5", 500, true}, {"0.25", 250, true}, {"0.125", 125, true}, {"1.000", 1000, true},
		{"", 0, false}, {"2", 0, false}, {"1.5", 0, false}, {"0.1234", 0, false},
		{"-0", 0, false}, {".5", 0, false}, {"0,5", 0, false}, {"0.5x", 0, false},
	}
	for _, tt := range tests {
		got, ok := qValue(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("qValue(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// FuzzNegotiate checks that any Accept-Encoding gives a coding the edge
// offers, and never one the visitor did not name (itself or by "*").
func FuzzNegotiate(f *testing.F) {
	for _, s := range []string{"", "gzip", "br;q=0.5, gzip;q=0.6", "*;q=0", "identity;q=0, *", "x-gzip;q=1.000", "gzip;q=", ";;,;q=0.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Negotiate([]string{s})
		switch got {
		case Identity:
		case Gzip, Brotli:
			if l := strings.ToLower(s); !strings.Contains(l, string(got)) && !strings.Contains(l, "*") {
				t.Fatalf("Negotiate(%q) = %q, which it does not name", s, got)
			}
		default:
			t.Fatalf("Negotiate(%q) = %q, not an offered coding", s, got)
		}
	})
}
