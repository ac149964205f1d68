package dnsname

import (
	"strings"
	"testing"

	"github.com/sshgress/sshgress/core/usererr"
)

func TestNormalize(t *testing.T) {
	label63 := strings.Repeat("a", 63)
	long := strings.Repeat(label63+".", 4) + "com" // 259 bytes
	tests := []struct {
		in      string
		want    string
		wantErr string // substring of the error; "" means success
	}{
		{in: "example.com", want: "example.com"},
		{in: "Example.COM", want: "example.com"},
		{in: "example.com.", want: "example.com"},
		{in: "example.com..", wantErr: "empty label"},
		{in: "example.com:8080", want: "example.com"},
		{in: "Example.com.:443", want: "example.com"},
		{in: "example.com:", want: "example.com"},
		{in: "example.com:http", wantErr: "invalid port"},
		{in: "example.com:123456", wantErr: "invalid port"},
		{in: "ann", want: "ann"},
		{in: "localhost", want: "localhost"},
		{in: "r3---sn-abc.example", want: "r3---sn-abc.example"},
		{in: "Bücher.example", want: "xn--bcher-kva.example"},
		{in: "BÜCHER.example", want: "xn--bcher-kva.example"},
		{in: "xn--bcher-kva.example", want: "xn--bcher-kva.example"},
		{in: "XN--BCHER-KVA.example", want: "xn--bcher-kva.example"},
		{in: "ｅｘａｍｐｌｅ.com", want: "example.com"},
		{in: "ann。localhost", want: "ann.localhost"},
		{in: "ann.localhost。", want: "ann.localhost"},
		{in: "xn--zz.example", wantErr: "internationalized"},
		{in: "xn--abc-.example", wantErr: "hyphen"},
		{in: "xn--abc.example", wantErr: "internationalized"},
		{in: "xn--.example", wantErr: "hyphen"},
		{in: "a..b", wantErr: "empty label"},
		{in: ".a", wantErr: "empty label"},
		{in: ".", wantErr: "empty"},
		{in: "", wantErr: "the name is empty"},
		{in: ":80", wantErr: "empty"},
		{in: long, wantErr: "too long"},
		{in: strings.Repeat("a", 10<<10), wantErr: "too long"},
		{in: label63 + ".com", want: label63 + ".com"},
		{in: label63 + "a.com", wantErr: "longer than 63"},
		{in: "-ann.example", wantErr: "hyphen"},
		{in: "ann-.example", wantErr: "hyphen"},
		{in: "a_b.example", wantErr: `contains '_'`},
		{in: "a b.example", wantErr: `contains ' '`},
		{in: "a\x00b.example", wantErr: `contains '\x00'`},
		{in: "*.example.com", wantErr: `contains '*'`},
		{in: "a/b", wantErr: `contains '/'`},
		{in: "\xb8.example", wantErr: "UTF-8"},
		{in: "1.2.3.4", wantErr: "IP address"},
		{in: "1.2.3.4:80", wantErr: "IP address"},
		{in: "169.254.169.254", wantErr: "IP address"},
		{in: "127.1", wantErr: "IP address"},
		{in: "0x7f.1", wantErr: "IP address"},
		{in: "a.0x7f", wantErr: "IP address"},
		{in: "2130706433", wantErr: "IP address"},
		{in: "::1", wantErr: "IP address"},
		{in: "[::1]", wantErr: "IP address"},
		{in: "[::1]:443", wantErr: "IP address"},
		{in: "[fe80::1%eth0]:443", wantErr: "IP address"},
		{in: "[example.com]", wantErr: "brackets"},
		{in: "[::1", wantErr: "unclosed"},
		{in: "[::1]x", wantErr: "invalid port"},
		{in: "a:b:c", wantErr: `contains ':'`},
		{in: "1.example", want: "1.example"},
		{in: "example.1com", want: "example.1com"},
		{in: "example.0xg", want: "example.0xg"},
	}
	for _, tt := range tests {
		t.Run(tt.in[:min(len(tt.in), 40)], func(t *testing.T) {
			got, err := Normalize(tt.in)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("Normalize(%q) = %q, want error containing %q", tt.in, got, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("Normalize(%q) error = %q, want it to contain %q", tt.in, err, tt.wantErr)
				}
				if !usererr.Is(err) {
					t.Errorf("Normalize(%q) error %q is not a user error", tt.in, err)
				}
				if len(err.Error()) > 300 {
					t.Errorf("Normalize(%q) error is %d bytes long, want at most 300", tt.in, len(err.Error()))
				}
				return
			}
			if err != nil {
				t.Fatalf("Normalize(%q) error = %v, want %q", tt.in, err, tt.want)
			}
			if got != tt.want {
				t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
			}
			again, err := Normalize(got)
			if err != nil || again != got {
				t.Errorf("Normalize(%q) = %q, %v; want %q, nil (idempotent)", got, again, err, got)
			}
		})
	}
}

func TestNormalizeHostPort(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr string
	}{
		{in: "tcp.Example.com:20002", want: "tcp.example.com:20002"},
		{in: "tcp.example.com.:080", want: "tcp.example.com:80"},
		{in: "1.2.3.4:22", want: "1.2.3.4:22"},
		{in: "[::ffff:1.2.3.4]:22", want: "1.2.3.4:22"},
		{in: "[2001:DB8::1]:22", want: "[2001:db8::1]:22"},
		{in: "tcp.example.com", wantErr: "not host:port"},
		{in: "tcp.example.com:0", wantErr: "invalid port"},
		{in: "tcp.example.com:65536", wantErr: "invalid port"},
		{in: "tcp.example.com:+22", wantErr: "invalid port"},
		{in: "tcp.example.com:", wantErr: "invalid port"},
		{in: ":22", wantErr: "no host"},
		{in: "a..b:22", wantErr: "empty label"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := NormalizeHostPort(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("NormalizeHostPort(%q) = %q, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("NormalizeHostPort(%q) = %q, %v; want %q, nil", tt.in, got, err, tt.want)
			}
			if again, err := NormalizeHostPort(got); err != nil || again != got {
				t.Errorf("NormalizeHostPort(%q) = %q, %v; want %q, nil (idempotent)", got, again, err, got)
			}
		})
	}
}

func TestIsIP(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"0.0.0.0", true},
		{"::1", true},
		{"[::1]", true},
		{"fe80::1%eth0", true},
		{"169.254.169.254", true},
		{"*", false},
		{"", false},
		{"localhost", false},
		{"127.1", false},
	}
	for _, tt := range tests {
		if got := IsIP(tt.in); got != tt.want {
			t.Errorf("IsIP(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestQuote(t *testing.T) {
	got := Quote(strings.Repeat("ü", 100))
	if len(got) > 120 {
		t.Errorf("Quote(200-byte string) is %d bytes, want at most 120", len(got))
	}
	if !strings.HasSuffix(got, "(200 bytes)") {
		t.Errorf("Quote(200-byte string) = %q, want the length at the end", got)
	}
	if strings.Contains(got, `\x`) {
		t.Errorf("Quote cut a character in half: %q", got)
	}
}

func TestNormalizeFastPathAllocs(t *testing.T) {
	for _, in := range []string{"abc123.tunnel.example.com", "abc123.tunnel.example.com:443", "abc.localhost."} {
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := Normalize(in); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("Normalize(%q) allocates %v times, want 0", in, allocs)
		}
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		"example.com", "Example.COM.", "example.com:8080", "[::1]:443", "::1",
		"Bücher.example", "xn--bcher-kva.example", "xn--zz", "a..b", "-a.b",
		"1.2.3.4", "127.1", "0x7f", "ann。localhost", "ｅｘａｍｐｌｅ.com",
		"a\x00b", "a b", "\xb8", "a\xffb.example", "*.example.com", "r3---sn-abc.example", "\u00ad",
		"ß.example", "ς.example", "\u200d.example", "عربي.example", "a.עברית",
		strings.Repeat("a", 64), strings.Repeat("a.", 130),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := Normalize(in)
		if err != nil {
			if !usererr.Is(err) {
				t.Fatalf("Normalize(%q) error %q is not a user error", in, err)
			}
			return
		}
		if got == "" || len(got) > MaxLength {
			t.Fatalf("Normalize(%q) = %q: bad length %d", in, got, len(got))
		}
		if err := validate(got, got); err != nil {
			t.Fatalf("Normalize(%q) = %q, which fails validation: %v", in, got, err)
		}
		again, err := Normalize(got)
		if err != nil || again != got {
			t.Fatalf("Normalize(%q) = %q, but Normalize(%q) = %q, %v (not idempotent)", in, got, got, again, err)
		}
	})
}

func FuzzNormalizeHostPort(f *testing.F) {
	for _, s := range []string{"a.example:22", "[::1]:22", "1.2.3.4:0", "a:b:c", "A.example.:022"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := NormalizeHostPort(in)
		if err != nil {
			return
		}
		again, err := NormalizeHostPort(got)
		if err != nil || again != got {
			t.Fatalf("NormalizeHostPort(%q) = %q, but again = %q, %v (not idempotent)", in, got, again, err)
		}
	})
}

func BenchmarkNormalizeFastPath(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Normalize("k3v9xq2m.tunnel.example.com"); err != nil {
			b.Fatal(err)
		}
	}
}
