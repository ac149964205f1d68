package sshserver

import (
	"testing"

	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"

	"github.com/sshgress/sshgress/core/usererr"
)

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
