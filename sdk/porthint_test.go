package sdk

import (
	"strings"
	"testing"
)

// TestRemotePortHint: the hint keeps the user's remote name, swaps in the
// port the endpoint type takes, and never invents a local port (the forward
// request does not carry it; echoing the remote port as the local one told
// `-R 8080:localhost:3000` users to use `-R 80:localhost:8080`).
func TestRemotePortHint(t *testing.T) {
	tests := []struct {
		command, ports, name string
		got                  uint32
		want                 int
		wantR                string
	}{
		{"http", "80, 443 or 0", "", 8080, 80, "-R 80:localhost:LOCALPORT "},
		{"http", "80, 443 or 0", "localhost", 8080, 80, "-R 80:localhost:LOCALPORT "},
		{"http", "80, 443 or 0", "myapp", 8080, 80, "-R myapp:80:localhost:LOCALPORT "},
		{"tls", "443 or 0", "app.example.org", 8443, 443, "-R app.example.org:443:localhost:LOCALPORT "},
	}
	for _, tt := range tests {
		got := RemotePortHint(tt.command, tt.ports, tt.name, tt.got, tt.want)
		if !strings.HasPrefix(got, tt.command+" endpoints listen on remote port "+tt.ports+", not ") {
			t.Errorf("RemotePortHint(%q, %d) = %q, want it to say which ports %s takes", tt.name, tt.got, got, tt.command)
		}
		if !strings.Contains(got, tt.wantR) {
			t.Errorf("RemotePortHint(%q, %d) = %q, want it to suggest %q", tt.name, tt.got, got, tt.wantR)
		}
		if strings.Contains(got, "localhost:8") {
			t.Errorf("RemotePortHint(%q, %d) = %q: it suggests a local port the edge cannot know", tt.name, tt.got, got)
		}
	}
}
