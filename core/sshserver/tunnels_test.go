package sshserver

import (
	"testing"

	"github.com/sshgress/sshgress/core/account"
)

func TestForwardSpec(t *testing.T) {
	tests := []struct {
		addr string
		port uint32
		want string
	}{
		{"", 80, "-R 80"},
		{"localhost", 443, "-R 443"},
		{"LOCALHOST", 0, "-R 0"},
		{"*", 80, "-R 80"},
		{"myapp", 80, "-R myapp:80"},
		{"app.example.org", 443, "-R app.example.org:443"},
	}
	for _, tt := range tests {
		f := &fwd{Forward: Forward{BindAddr: tt.addr, BindPort: tt.port}}
		if got := forwardSpec(f); got != tt.want {
			t.Errorf("forwardSpec(%q, %d) = %q, want %q", tt.addr, tt.port, got, tt.want)
		}
	}
}

// TestConnOwner: the tunnels command and takeovers group connections by
// owner: the account, and for the anonymous account the key as well.
func TestConnOwner(t *testing.T) {
	ann := &account.Account{Name: "ann"}
	anon := account.Anonymous()
	owner := func(a *account.Account, key string) string { return (&conn{acct: a, key: key}).owner() }
	if owner(ann, "SHA256:a") != owner(ann, "SHA256:b") {
		t.Errorf("two keys of account ann are different owners; want one")
	}
	if owner(anon, "SHA256:a") == owner(anon, "SHA256:b") {
		t.Errorf("two anonymous keys are the same owner; want two")
	}
	if owner(anon, "SHA256:a") != owner(account.Anonymous(), "SHA256:a") {
		t.Errorf("one anonymous key is two owners; want one")
	}
	if owner(anon, "SHA256:a") == owner(&account.Account{Name: account.AnonymousName}, "SHA256:a") {
		t.Errorf("an account named %q is the anonymous key's owner", account.AnonymousName)
	}
}
