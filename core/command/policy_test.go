package command

import (
	"reflect"
	"strings"
	"testing"

	"github.com/sshgress/sshgress/core/usererr"
)

func TestGroupByOwner(t *testing.T) {
	s, err := NewSet(Options{}, Command{Name: "http", Flags: []Flag{
		mkFlag("", "domain"),
		mkFlag("basicauth", "basic-auth"),
		mkFlag("oauth", "oauth"),
		mkFlag("oauth", "oauth-allow-email"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		values map[string][]string
		want   map[string]map[string][]string
	}{
		{"no flags", nil, nil},
		{"core flags only", map[string][]string{"domain": {"a.example"}}, nil},
		{"two plugins", map[string][]string{
			"domain":            {"a.example"},
			"basic-auth":        {"a:b", "c:d"},
			"oauth":             {"google"},
			"oauth-allow-email": {"x@y"},
		}, map[string]map[string][]string{
			"basicauth": {"basic-auth": {"a:b", "c:d"}},
			"oauth":     {"oauth": {"google"}, "oauth-allow-email": {"x@y"}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := s.GroupByOwner(&Invocation{Command: "http", Values: tc.values})
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

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
			err := OneAuthMethod([]string{"basicauth", "oauth"}, tc.values)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("got %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want %q", err, tc.want)
			case err != nil && !usererr.Is(err):
				t.Fatalf("error %v is not a user error", err)
			}
		})
	}
}
