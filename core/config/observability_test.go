package config

import "testing"

func TestParseTrusted(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"10.0.0.0/8", "10.0.0.0/8"},
		{"10.1.2.3/8", "10.0.0.0/8"},
		{"192.0.2.7", "192.0.2.7/32"},
		{" 2001:db8::/32 ", "2001:db8::/32"},
		{"2001:db8::1", "2001:db8::1/128"},
	} {
		got, err := ParseTrusted(c.in)
		if err != nil || got.String() != c.want {
			t.Errorf("ParseTrusted(%q) = %v, %v; want %s", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "lb.example.com", "10.0.0.0/40", "10.0.0.0/"} {
		if _, err := ParseTrusted(bad); err == nil {
			t.Errorf("ParseTrusted(%q) accepted", bad)
		}
	}
}
