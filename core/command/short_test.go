package command

import (
	"slices"
	"strings"
	"testing"

	"github.com/sshgress/sshgress/sdk"
)

// shortSet is http with a core switch that has a one-letter alias, as
// core/httpedge declares --verbose (-v) and --inspect.
func shortSet(t *testing.T) *Set {
	t.Helper()
	s, err := NewSet(Options{}, Command{Name: "http", Flags: []Flag{
		{FlagSpec: sdk.FlagSpec{Name: "verbose", Type: sdk.FlagBool, Help: "Print headers."}, Short: "v"},
		{FlagSpec: sdk.FlagSpec{Name: "inspect", Type: sdk.FlagBool, Help: "Inspect."}},
		{Owner: "basicauth", FlagSpec: sdk.FlagSpec{Name: "basic-auth", Type: sdk.FlagString, Help: "Auth."}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestShortAlias(t *testing.T) {
	s := shortSet(t)
	for _, tc := range []struct {
		exec    string
		want    map[string][]string
		wantErr string
	}{
		{"http -v", map[string][]string{"verbose": {"true"}}, ""},
		{"http --inspect -v", map[string][]string{"verbose": {"true"}, "inspect": {"true"}}, ""},
		{"http --inspect=false", map[string][]string{"inspect": {"false"}}, ""},
		{"http -x", nil, "unknown flag -x for http"},
		{"http -inspect", nil, "write --inspect instead of -inspect"},
	} {
		t.Run(tc.exec, func(t *testing.T) {
			inv, err := s.Parse("v2", tc.exec, "")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Parse: %v; want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := s.CoreValues(inv)
			if len(got) != len(tc.want) {
				t.Fatalf("core values %v; want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if !slices.Equal(got[k], v) {
					t.Errorf("core value %s = %v; want %v", k, got[k], v)
				}
			}
		})
	}
	if help := s.Help("http"); !strings.Contains(help, "  -v, --verbose") {
		t.Errorf("help has no -v, --verbose line:\n%s", help)
	}
}

func TestShortAliasRules(t *testing.T) {
	for _, tc := range []struct {
		name string
		flag Flag
		want string
	}{
		{"plugin flag", Flag{Owner: "p", Short: "q", FlagSpec: sdk.FlagSpec{Name: "quiet", Type: sdk.FlagBool}}, "only core flags"},
		{"not a switch", Flag{Short: "n", FlagSpec: sdk.FlagSpec{Name: "name", Type: sdk.FlagString}}, "not a switch"},
		{"help letter", Flag{Short: "h", FlagSpec: sdk.FlagSpec{Name: "hush", Type: sdk.FlagBool}}, "other than h"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewSet(Options{}, Command{Name: "http", Flags: []Flag{tc.flag}})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewSet: %v; want an error with %q", err, tc.want)
			}
		})
	}
}
