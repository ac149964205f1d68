package sshserver

import (
	"strings"
	"testing"

	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"

	"github.com/sshgress/sshgress/core/usererr"
)

func TestOneAuthMethod(t *testing.T) {
	tests := []struct {
		name   string
		values map[string]map[string][]string
		want   string
	}{
		{"none", nil, ""},
		{"basic auth", map[string]map[string][]string{"basicauth": {"basic-auth": {"a:b"}}}, ""},
		{"oauth and another plugin", map[string]map[string][]string{"oauth": {"oauth": {"google"}}, "headers": {"x": {"y"}}}, ""},
		{"both", map[string]map[string][]string{
			"basicauth": {"basic-auth": {"a:bbbbbbbb"}},
			"oauth":     {"oauth-allow-email": {"a@b"}, "oauth": {"google"}},
		}, "--basic-auth and --oauth cannot be combined"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := oneAuthMethod([]string{"basicauth", "oauth"}, tc.values)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("got %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestCRLF(t *testing.T) {
	tests := []struct {
		in   string
		pty  bool
		want string
	}{
		{"a\nb\n", false, "a\nb\n"},
		{"a\nb\n", true, "a\r\nb\r\n"},
		{"a\r\nb", true, "a\r\nb"},
		{"\n", true, "\r\n"},
	}
	for _, tc := range tests {
		if got := crlf(tc.in, tc.pty); got != tc.want {
			t.Errorf("crlf(%q, %v) = %q, want %q", tc.in, tc.pty, got, tc.want)
		}
	}
}

func FuzzParseForward(f *testing.F) {
	f.Add(ssh.Marshal(forwardPayload{"", 80}), 1)
	f.Add(ssh.Marshal(forwardPayload{"localhost", 0}), 1)
	f.Add(ssh.Marshal(forwardPayload{"app.example.org", 443}), 11)
	f.Add(ssh.Marshal(forwardPayload{"x", 1<<32 - 1}), 1)
	f.Add([]byte{0, 0, 0, 9, 'a'}, 1)
	f.Add([]byte{}, 1)
	f.Fuzz(func(t *testing.T, payload []byte, n int) {
		p, err := parseForward(payload, n, 10)
		if err != nil {
			if !usererr.Is(err) {
				t.Fatalf("error %v is not a user error", err)
			}
			return
		}
		if p.Port > 65535 || n > 10 || len(p.Addr) > 1024 {
			t.Fatalf("accepted %+v (n=%d)", p, n)
		}
	})
}
