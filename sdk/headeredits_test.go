package sdk

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pluginv1 "github.com/sshgress/sshgress/sdk/proto/plugin/v1"
)

func TestHeaderNotEditable(t *testing.T) {
	tests := []struct {
		name string
		want string // "" editable; else a piece of the reason
	}{
		{"X-Env", ""},
		{"referer", ""},
		{"Authorization", ""},
		{"Set-Cookie", ""},
		{"Content-Type", ""},
		{"X Env", "not a valid header name"},
		{"X-Env:", "not a valid header name"},
		{"", "not a valid header name"},
		{"X-Forwarded-For", "edge's own headers"},
		{"x-forwarded-proto", "edge's own headers"},
		{"X_Forwarded_Host", "edge's own headers"},
		{"X-Forwarded-Anything", "edge's own headers"},
		{"Forwarded", "edge's own headers"},
		{"X-Real-Ip", "edge's own headers"},
		{"Cf-Connecting-Ip", "edge's own headers"},
		{"X-Sshgress-User-Email", "edge's own headers"},
		{"x-sshgress_user", "edge's own headers"},
		{"CDN-Loop", "edge's own headers"},
		{"Host", "only the host edit"},
		{"host", "only the host edit"},
		{"Connection", "hop-by-hop or framing"},
		{"Transfer-Encoding", "hop-by-hop or framing"},
		{"content-length", "hop-by-hop or framing"},
		{"Te", "hop-by-hop or framing"},
		{"Trailer", "hop-by-hop or framing"},
		{"Upgrade", "hop-by-hop or framing"},
		{"Keep-Alive", "hop-by-hop or framing"},
		{"Proxy-Authorization", "hop-by-hop or framing"},
		{"Expect", "hop-by-hop or framing"},
	}
	for _, tc := range tests {
		got := HeaderNotEditable(tc.name)
		if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("HeaderNotEditable(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestParseHeaderField(t *testing.T) {
	tests := []struct {
		in      string
		want    HeaderField
		wantErr string
	}{
		{"X-Env: staging", HeaderField{"X-Env", "staging"}, ""},
		{"x-a:b:c", HeaderField{"x-a", "b:c"}, ""},
		{" X-Empty :  ", HeaderField{"X-Empty", ""}, ""},
		{"X-Tab:\tv\t", HeaderField{"X-Tab", "v"}, ""},
		{"X-Env", HeaderField{}, `--request-header-add takes "Name: value"`},
		{": v", HeaderField{}, `--request-header-add takes "Name: value"`},
		{"X-A: one\r\nX-Injected: two", HeaderField{}, `--request-header-add: the value of "X-A" has a control character`},
		{"X-A: a\x00b", HeaderField{}, "control character"},
		{"X-A: a\nb", HeaderField{}, "control character"},
		{"X-Forwarded-For: 203.0.113.9", HeaderField{}, `--request-header-add: "X-Forwarded-For" is one of the edge's own headers`},
		{"Host: example.org", HeaderField{}, `"Host" is the request's routing header`},
		{"Bad Name: v", HeaderField{}, `"Bad Name" is not a valid header name`},
	}
	for _, tc := range tests {
		got, err := ParseHeaderField("request-header-add", tc.in)
		if tc.wantErr != "" {
			msg, ok := AsUserError(err)
			if !ok || !strings.Contains(msg, tc.wantErr) {
				t.Errorf("ParseHeaderField(%q) = %v, want a UserError with %q", tc.in, err, tc.wantErr)
			}
			if ok && strings.Contains(tc.in, "two") && strings.Contains(msg, "two") {
				t.Errorf("ParseHeaderField(%q): the sentence %q repeats the value", tc.in, msg)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseHeaderField(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	if _, err := ParseHeaderName("response-header-remove", "Connection"); err == nil || !strings.Contains(err.Error(), `--response-header-remove: "Connection" is a hop-by-hop`) {
		t.Errorf("ParseHeaderName(Connection) = %v", err)
	}
	if got, err := ParseHeaderName("response-header-remove", " Server "); err != nil || got != "Server" {
		t.Errorf("ParseHeaderName(Server) = %q, %v", got, err)
	}
}

func TestValidHostHeader(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "localhost:3000": true, "app.internal": true, "127.0.0.1:8080": true,
		"[::1]": true, "[::1]:3000": true, "my_host.lan": true,
		"": false, "a b": false, "localhost:": false, "localhost:123456": false, "localhost:3x": false,
		"-bad.example": false, "a..b": false, "[::1": false, "[]": false, "x\r\nEvil: 1": false,
		"user@host": false, "host/path": false, strings.Repeat("a", 64) + ".example": false,
	} {
		if got := ValidHostHeader(host); got != want {
			t.Errorf("ValidHostHeader(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestHeaderEditsValidate(t *testing.T) {
	many := make([]HeaderField, MaxHeaderEdits)
	for i := range many {
		many[i] = HeaderField{Name: "X-A", Value: "v"}
	}
	tests := []struct {
		name    string
		e       HeaderEdits
		wantErr string
	}{
		{"ok", HeaderEdits{RequestRemove: []string{"Referer"}, RequestAdd: []HeaderField{{"X-Env", "1"}},
			ResponseRemove: []string{"Server"}, ResponseAdd: []HeaderField{{"X-Frame-Options", "DENY"}}, Host: "localhost:3000"}, ""},
		{"64 edits", HeaderEdits{RequestAdd: many}, ""},
		{"65 edits", HeaderEdits{RequestAdd: many, Host: "localhost"}, "65 edits, at most 64"},
		{"too many bytes", HeaderEdits{ResponseAdd: []HeaderField{{"X-Big", strings.Repeat("v", MaxHeaderEditBytes)}}}, "bytes, at most 8192"},
		{"edge-owned add", HeaderEdits{RequestAdd: []HeaderField{{"X-Sshgress-User", "ann"}}}, "edge's own headers"},
		{"edge-owned remove", HeaderEdits{RequestRemove: []string{"X-Forwarded-For"}}, "edge's own headers"},
		{"framing response", HeaderEdits{ResponseAdd: []HeaderField{{"Content-Length", "0"}}}, "framing"},
		{"crlf value", HeaderEdits{ResponseAdd: []HeaderField{{"X-A", "a\r\nSet-Cookie: x"}}}, "control character"},
		{"bad host", HeaderEdits{Host: "a\nb"}, "not a host name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.e.Validate()
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Validate = %v, want %q", err, tc.wantErr)
			}
			// StaticRules carries them and fails the same way.
			r := StaticRules{Headers: tc.e}
			if r.Empty() {
				t.Error("StaticRules with header edits is Empty")
			}
			if rerr := r.Validate(); (rerr == nil) != (err == nil) {
				t.Errorf("StaticRules.Validate = %v, HeaderEdits.Validate = %v", rerr, err)
			}
		})
	}
}

// headerEditor returns header edits for every tunnel.
type headerEditor struct{ ruler }

func (p *headerEditor) OpenTunnel(context.Context, Tunnel) (OpenResult, error) {
	return OpenResult{Rules: &StaticRules{Headers: HeaderEdits{ResponseRemove: []string{"Server"}}}}, nil
}

// TestHeaderEditsNeedAnApplyingEdge: an edge that enforces static rules
// but is older than header edits would drop them, so the SDK refuses such
// a tunnel (fail closed); an edge that applies them gets them over the
// wire.
func TestHeaderEditsNeedAnApplyingEdge(t *testing.T) {
	p := &headerEditor{}
	s := &pluginServer{impl: p, logger: slog.New(slog.DiscardHandler)}
	_, err := s.OpenTunnel(context.Background(), &pluginv1.OpenTunnelRequest{TunnelId: "old", Command: "http", EnforcesStaticRules: true})
	if st, _ := status.FromError(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "this edge is too old to apply the header edits") {
		t.Fatalf("OpenTunnel from an edge without header edits = %v, want a refusal", err)
	}
	if len(p.closed) != 1 || p.closed[0] != "old" {
		t.Errorf("closed %v, want the refused tunnel closed", p.closed)
	}
	resp, err := s.OpenTunnel(context.Background(), &pluginv1.OpenTunnelRequest{TunnelId: "new", Command: "http", EnforcesStaticRules: true, AppliesHeaderEdits: true})
	if err != nil || len(resp.GetStaticRules().GetHeaderEdits().GetResponseRemove()) != 1 {
		t.Fatalf("OpenTunnel from an applying edge = %v, %v; want the edits", resp, err)
	}
}

func FuzzParseHeaderField(f *testing.F) {
	for _, s := range []string{"X-Env: staging", "Host: x", "a\r\nb: c", "X-A: \x00", ":", "X-Forwarded-For: 1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		hf, err := ParseHeaderField("request-header-add", s)
		if err != nil {
			if _, ok := AsUserError(err); !ok {
				t.Fatalf("error %v is not a UserError", err)
			}
			return
		}
		if err := (HeaderEdits{RequestAdd: []HeaderField{hf}}).Validate(); err != nil && !strings.Contains(err.Error(), "bytes, at most") {
			t.Fatalf("ParseHeaderField(%q) accepted %+v, which the edge refuses: %v", s, hf, err)
		}
	})
}
