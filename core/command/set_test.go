package command

import (
	"strings"
	"testing"

	"github.com/sshgress/sshgress/sdk"
)

func mkFlag(owner, name string, commands ...string) Flag {
	return Flag{Owner: owner, FlagSpec: sdk.FlagSpec{Name: name, Commands: commands}}
}

func TestNewSetErrors(t *testing.T) {
	tests := []struct {
		name    string
		cmds    []Command
		wantErr string
	}{
		{
			name:    "flag claimed by two plugins",
			cmds:    []Command{{Name: "http", Flags: []Flag{mkFlag("a", "x"), mkFlag("b", "x")}}},
			wantErr: `command: http: flag --x is claimed by plugins "a" and "b"`,
		},
		{
			name:    "flag claimed by core and plugin",
			cmds:    []Command{{Name: "http", Flags: []Flag{mkFlag("", "x"), mkFlag("b", "x")}}},
			wantErr: `flag --x is claimed by the core and plugin "b"`,
		},
		{
			name:    "flag claimed by plugin and core",
			cmds:    []Command{{Name: "http", Flags: []Flag{mkFlag("a", "x"), mkFlag("", "x")}}},
			wantErr: `flag --x is claimed by the core and plugin "a"`,
		},
		{
			name:    "flag declared twice by one plugin",
			cmds:    []Command{{Name: "http", Flags: []Flag{mkFlag("a", "x"), mkFlag("a", "x")}}},
			wantErr: `flag --x is declared twice by plugin "a"`,
		},
		{
			name:    "flag declared twice by the core",
			cmds:    []Command{{Name: "http", Flags: []Flag{mkFlag("", "x"), mkFlag("", "x")}}},
			wantErr: `flag --x is declared twice by the core`,
		},
		{
			name:    "duplicate command",
			cmds:    []Command{{Name: "http"}, {Name: "tcp"}, {Name: "http"}},
			wantErr: `command: command "http" is declared twice`,
		},
		{
			name:    "help command",
			cmds:    []Command{{Name: "help"}},
			wantErr: `"help" is reserved`,
		},
		{
			name:    "tunnels command",
			cmds:    []Command{{Name: "tunnels"}},
			wantErr: `"tunnels" is reserved`,
		},
		{
			name:    "empty command name",
			cmds:    []Command{{Name: ""}},
			wantErr: `command: invalid command name ""`,
		},
		{
			name:    "uppercase command name",
			cmds:    []Command{{Name: "HTTP"}},
			wantErr: `invalid command name "HTTP"`,
		},
		{
			name:    "flag name with uppercase",
			cmds:    []Command{{Name: "http", Flags: []Flag{mkFlag("a", "Basic")}}},
			wantErr: `flag "Basic" of plugin "a" is not a valid name`,
		},
		{
			name:    "flag name with leading dash",
			cmds:    []Command{{Name: "http", Flags: []Flag{mkFlag("a", "-x")}}},
			wantErr: `flag "-x" of plugin "a" is not a valid name`,
		},
		{
			name:    "flag name with dashes included",
			cmds:    []Command{{Name: "http", Flags: []Flag{mkFlag("a", "--x")}}},
			wantErr: `flag "--x" of plugin "a" is not a valid name`,
		},
		{
			name:    "flag name with underscore",
			cmds:    []Command{{Name: "http", Flags: []Flag{mkFlag("", "a_b")}}},
			wantErr: `flag "a_b" of the core is not a valid name`,
		},
		{
			name:    "empty flag name",
			cmds:    []Command{{Name: "http", Flags: []Flag{mkFlag("a", "")}}},
			wantErr: `flag "" of plugin "a" is not a valid name`,
		},
		{
			name:    "help flag",
			cmds:    []Command{{Name: "http", Flags: []Flag{mkFlag("a", "help")}}},
			wantErr: `flag --help of plugin "a" is reserved for help`,
		},
		{
			name:    "h flag",
			cmds:    []Command{{Name: "http", Flags: []Flag{mkFlag("a", "h")}}},
			wantErr: `flag --h of plugin "a" is reserved for help`,
		},
		{
			name:    "flag of another command",
			cmds:    []Command{{Name: "http", Flags: []Flag{mkFlag("p", "x", "tcp", "tls")}}},
			wantErr: `command: http: flag --x of plugin "p" applies only to tcp and tls, so it cannot be offered for http`,
		},
		{
			name:    "unknown flag type",
			cmds:    []Command{{Name: "http", Flags: []Flag{{Owner: "p", FlagSpec: sdk.FlagSpec{Name: "x", Type: 7}}}}},
			wantErr: `flag --x of plugin "p" has unknown type 7`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSet(Options{}, tt.cmds...)
			if err == nil {
				t.Fatalf("NewSet = %v, want error containing %q", s, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("NewSet error:\n got %q\nwant it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestNewSetAccepts(t *testing.T) {
	// The same flag name in two commands is fine, as is a disabled entry
	// that is in fact enabled (enabled wins).
	s, err := NewSet(Options{
		Disabled:      map[string]string{"http": "web", "tcp": "tcp"},
		DisabledFlags: map[string]string{"x": "xp", "oidc": "oidc"},
	},
		Command{Name: "tls", Flags: []Flag{mkFlag("a", "x")}},
		Command{Name: "http", Flags: []Flag{mkFlag("b", "x", "http"), mkFlag("", "0-rtt")}},
	)
	if err != nil {
		t.Fatalf("NewSet: %v", err)
	}
	if _, err := s.Parse("v2", "http --x=1", ""); err != nil {
		t.Errorf("Parse(http --x=1) error = %v, want nil", err)
	}
	if _, err := s.Parse("v2", "http --0-rtt=1", ""); err != nil {
		t.Errorf("Parse(http --0-rtt=1) error = %v, want nil", err)
	}
	_, err = s.Parse("v2", "http --oidc=x", "")
	if want := "--oidc needs the oidc plugin"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Parse(http --oidc=x) error = %v, want %q", err, want)
	}
	if got, want := s.Help(""), "Known but not enabled on this server: tcp."; !strings.Contains(got, want) {
		t.Errorf("general help lacks %q:\n%s", want, got)
	}
}

func TestCommandsAndLookup(t *testing.T) {
	cmds := testCommands()
	s, err := NewSet(testOptions(), cmds[1], cmds[0]) // tls first: Commands must sort
	if err != nil {
		t.Fatalf("NewSet: %v", err)
	}
	cmds[0].Flags[0].Name = "mutated-after-newset"

	got := s.Commands()
	var names []string
	for _, c := range got {
		names = append(names, c.Name)
	}
	if want := "http,tls"; strings.Join(names, ",") != want {
		t.Fatalf("Commands names = %q, want %q", names, want)
	}
	var flags []string
	for _, f := range got[0].Flags {
		flags = append(flags, f.Name)
	}
	if want := "basic-auth,cidr-allow,circuit-breaker,compression,hidden,oauth,oauth-allow-email,oauth-client-secret,pin"; strings.Join(flags, ",") != want {
		t.Errorf("http flags = %s, want %s (sorted, unaffected by the caller's later changes)", strings.Join(flags, ","), want)
	}

	got[0].Flags[0].Name = "mutated-copy"
	got[0].Flags[0].Commands[0] = "mutated-copy"
	c, ok := s.Lookup("http")
	if !ok {
		t.Fatalf("Lookup(http) not found")
	}
	if c.Flags[0].Name != "basic-auth" || c.Flags[0].Commands[0] != "http" {
		t.Errorf("Lookup(http) sees a change made to a copy: %+v", c.Flags[0])
	}
	for _, name := range []string{"tcp", "HTTP", "help", ""} {
		if _, ok := s.Lookup(name); ok {
			t.Errorf("Lookup(%q) found a command, want none", name)
		}
	}
}
