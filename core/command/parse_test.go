package command

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/sshgress/sshgress/core/usererr"
)

func TestParseVersion(t *testing.T) {
	tests := []struct {
		user    string
		want    string
		wantErr string
	}{
		{user: "v2", want: Latest},
		{user: "V2", want: Latest},
		{user: "", want: Latest},
		{user: "ann", want: Latest},
		{user: "root", want: Latest},
		{user: "v", want: Latest},
		{user: "v2x", want: Latest},
		{user: "version2", want: Latest},
		{user: "v1", wantErr: `Could not find API version "v1" (from the SSH user name). This server speaks v2: use v2@HOST, or leave the user name out.`},
		{user: "v3", wantErr: `Could not find API version "v3"`},
		{user: "V9", wantErr: `Could not find API version "V9"`},
		{user: "v02", wantErr: `Could not find API version "v02"`},
		{user: "v" + strings.Repeat("9", 100), wantErr: `"v` + strings.Repeat("9", 63) + `…"`},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			got, err := ParseVersion(tt.user)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseVersion(%q) error = %v, want it to contain %q", tt.user, err, tt.wantErr)
				}
				if !usererr.Is(err) {
					t.Errorf("ParseVersion(%q) error is not a usererr", tt.user)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseVersion(%q) = %q, %v; want %q, nil", tt.user, got, err, tt.want)
			}
		})
	}
}

func TestParse(t *testing.T) {
	s := testSet(t)
	tests := []struct {
		name     string
		user     string // "" means "v2"
		exec     string
		def      string
		want     *Invocation
		wantErr  string   // substring of the error
		notInErr []string // substrings the error must not contain
	}{
		// Commands and help.
		{name: "bare command", exec: "http", want: inv("http", false, nil)},
		{name: "command case", exec: "HTTP", want: inv("http", false, nil)},
		{name: "blank uses default", exec: "  \t\n", def: "http", want: inv("http", false, nil)},
		{name: "empty uses default", exec: "", def: "tls", want: inv("tls", false, nil)},
		{name: "empty without default", exec: "", wantErr: `no command given. Available commands: http, tls. Run "help" for usage.`},
		{name: "default disabled", exec: "", def: "tcp", wantErr: "tcp endpoints are not enabled on this server"},
		{name: "user name ignored", user: "ann", exec: "http", want: inv("http", false, nil)},
		{name: "bad version", user: "v1", exec: "http", wantErr: `Could not find API version "v1" (from the SSH user name). This server speaks v2: use v2@localhost -p 2222, or leave the user name out.`},
		{name: "unknown command", exec: "foo", wantErr: `unknown command "foo". Available commands: http, tls. Run "help" for usage.`},
		{name: "unknown command long", exec: strings.Repeat("x", 100), wantErr: `unknown command "` + strings.Repeat("x", 64) + `…"`},
		{name: "disabled command", exec: "tcp", wantErr: `tcp endpoints are not enabled on this server (they need the tcp plugin). Available commands: http, tls. Run "help" for usage.`},
		{name: "help", exec: "help", want: inv("", true, nil)},
		{name: "help command", exec: "help http", want: inv("http", true, nil)},
		{name: "help flag then command", exec: "help --x tls", want: inv("tls", true, nil)},
		{name: "help unknown", exec: "help foo", wantErr: `unknown command "foo"`},
		{name: "help disabled", exec: "help tcp", wantErr: "tcp endpoints are not enabled"},
		{name: "dash dash help", exec: "--help", want: inv("", true, nil)},
		{name: "dash h", exec: "-h", want: inv("", true, nil)},
		{name: "command help", exec: "http --help", want: inv("http", true, nil)},
		{name: "command -h", exec: "tls -h", want: inv("tls", true, nil)},
		{name: "help wins over errors", exec: "http --bogus x y --basic-auth -h", want: inv("http", true, nil)},
		{name: "help equals", exec: "http --help=true", want: inv("http", true, nil)},
		{name: "help after flags first", exec: "--basic-auth x --help", want: inv("", true, nil)},
		{name: "help does not hide unknown command", exec: "foo --help", wantErr: `unknown command "foo"`},
		{name: "help does not hide disabled command", exec: "tcp --help", wantErr: "tcp endpoints are not enabled"},
		{name: "tunnels", exec: "tunnels", want: &Invocation{Version: Latest, Command: Tunnels, List: true, Values: map[string][]string{}}},
		{name: "tunnels case", exec: "Tunnels", want: &Invocation{Version: Latest, Command: Tunnels, List: true, Values: map[string][]string{}}},
		{name: "tunnels help", exec: "tunnels --help", want: inv(Tunnels, true, nil)},
		{name: "help tunnels", exec: "help tunnels", want: inv(Tunnels, true, nil)},
		{name: "tunnels with a flag", exec: "tunnels --all", wantErr: `tunnels takes no flags or arguments: run "tunnels" alone, or "tunnels --help".`},
		{name: "tunnels with a word", exec: "tunnels mine", wantErr: `tunnels takes no flags or arguments`},
		{name: "flag before command", exec: "--basic-auth ann:secretpw", wantErr: `missing command before --basic-auth: the endpoint type comes first. Available commands: http, tls.`, notInErr: []string{"secretpw"}},
		{name: "flag= before command", exec: "--basic-auth=ann:secretpw http", wantErr: `missing command before --basic-auth:`, notInErr: []string{"secretpw"}},

		// Flag forms.
		{name: "space value", exec: "http --oauth google", want: inv("http", false, map[string][]string{"oauth": {"google"}})},
		{name: "equals value", exec: "http --oauth=google", want: inv("http", false, map[string][]string{"oauth": {"google"}})},
		{name: "equals in value", exec: "http --oauth=a=b", want: inv("http", false, map[string][]string{"oauth": {"a=b"}})},
		{name: "single quoted", exec: "http --basic-auth 'a b:c d e f'", want: inv("http", false, map[string][]string{"basic-auth": {"a b:c d e f"}})},
		{name: "double quoted", exec: `http --basic-auth "ann:pa ss\"word"`, want: inv("http", false, map[string][]string{"basic-auth": {`ann:pa ss"word`}})},
		{name: "quoted equals form", exec: `http --basic-auth='ann:two words'`, want: inv("http", false, map[string][]string{"basic-auth": {"ann:two words"}})},
		{name: "backslash space", exec: `http --basic-auth ann:two\ words`, want: inv("http", false, map[string][]string{"basic-auth": {"ann:two words"}})},
		{name: "repeatable in order", exec: "http --basic-auth b:2 --oauth github --basic-auth a:1", want: inv("http", false, map[string][]string{"basic-auth": {"b:2", "a:1"}, "oauth": {"github"}})},
		{name: "value starting with one dash", exec: "http --oauth -x", want: inv("http", false, map[string][]string{"oauth": {"-x"}})},
		{name: "value starting with dashes via equals", exec: "http --oauth=--x", want: inv("http", false, map[string][]string{"oauth": {"--x"}})},
		{name: "non-ASCII value", exec: "http --oauth-allow-email 'jörg@例え.jp'", want: inv("http", false, map[string][]string{"oauth-allow-email": {"jörg@例え.jp"}})},
		{name: "flag of every command", exec: "tls --cidr-allow 10.0.0.0/8", want: inv("tls", false, map[string][]string{"cidr-allow": {"10.0.0.0/8"}})},
		{name: "extra whitespace", exec: "  http\t--compression \n ", want: inv("http", false, map[string][]string{"compression": {"true"}})},

		// Bool flags.
		{name: "bool bare", exec: "http --compression", want: inv("http", false, map[string][]string{"compression": {"true"}})},
		{name: "bool true", exec: "http --compression=true", want: inv("http", false, map[string][]string{"compression": {"true"}})},
		{name: "bool false", exec: "http --compression=FALSE", want: inv("http", false, map[string][]string{"compression": {"false"}})},
		{name: "bool bad", exec: "http --compression=maybe", wantErr: `--compression is a switch: write --compression, --compression=true or --compression=false, not "maybe".`},
		{name: "bool separate value", exec: "http --compression false", wantErr: `unexpected argument "false": --compression is a switch and takes no separate value; write --compression=false.`},
		{name: "bool twice", exec: "http --compression --compression", wantErr: "--compression was given more than once, but it takes a single value; keep one."},
		{name: "sensitive bool bad", exec: "http --hidden=SECRETSECRET", wantErr: "--hidden is a switch: write --hidden, --hidden=true or --hidden=false.", notInErr: []string{"SECRETSECRET"}},

		// Int flags.
		{name: "int", exec: "http --circuit-breaker 50", want: inv("http", false, map[string][]string{"circuit-breaker": {"50"}})},
		{name: "int canonical", exec: "http --circuit-breaker=+007", want: inv("http", false, map[string][]string{"circuit-breaker": {"7"}})},
		{name: "int negative", exec: "http --circuit-breaker -5", want: inv("http", false, map[string][]string{"circuit-breaker": {"-5"}})},
		{name: "int bad", exec: "http --circuit-breaker half", wantErr: `--circuit-breaker needs a whole number, not "half".`},
		{name: "int overflow", exec: "http --circuit-breaker 99999999999999999999", wantErr: `--circuit-breaker needs a whole number, not "99999999999999999999".`},
		{name: "int long value truncated", exec: "http --circuit-breaker " + strings.Repeat("z", 200), wantErr: `not "` + strings.Repeat("z", 64) + `…".`, notInErr: []string{strings.Repeat("z", 65)}},
		{name: "sensitive int bad", exec: "http --pin SECRETSECRET", wantErr: "--pin needs a whole number.", notInErr: []string{"SECRETSECRET"}},
		{name: "sensitive int ok", exec: "http --pin 1234", want: inv("http", false, map[string][]string{"pin": {"1234"}})},

		// Value errors.
		{name: "missing value at end", exec: "http --oauth", wantErr: `--oauth needs a value: write --oauth PROVIDER, or --oauth=PROVIDER if the value starts with "--".`},
		{name: "missing value before flag", exec: "http --basic-auth --compression", wantErr: "--basic-auth needs a value: write --basic-auth USER:PASSWORD"},
		{name: "missing value hides dashed secret", exec: "http --basic-auth --SECRETSECRET", wantErr: "--basic-auth needs a value", notInErr: []string{"SECRETSECRET"}},
		{name: "empty value", exec: "http --oauth ''", wantErr: "--oauth needs a value, but it is empty: write --oauth PROVIDER."},
		{name: "empty equals value", exec: "http --oauth=", wantErr: "--oauth needs a value, but it is empty"},
		{name: "non-repeatable twice", exec: "http --oauth google --oauth github", wantErr: "--oauth was given more than once, but it takes a single value; keep one."},
		{name: "sensitive non-repeatable twice", exec: "http --oauth-client-secret SECRETSECRET --oauth-client-secret OTHERSECRET", wantErr: "--oauth-client-secret was given more than once", notInErr: []string{"SECRETSECRET", "OTHERSECRET"}},
		{name: "int without value", exec: "http --circuit-breaker", wantErr: "--circuit-breaker needs a value: write --circuit-breaker PERCENT"},

		// Unknown, foreign and disabled flags.
		{name: "unknown flag", exec: "http --foo", wantErr: `unknown flag --foo for http. Run "http --help" to see the flags this server offers.`},
		{name: "unknown flag with value", exec: "http --foo=bar", wantErr: `unknown flag --foo for http.`, notInErr: []string{"bar"}},
		{name: "unknown flag odd name", exec: `http --Foo$`, wantErr: `unknown flag "--Foo$" for http.`},
		{name: "unknown flag long name", exec: "http --" + strings.Repeat("a", 100), wantErr: `unknown flag "--` + strings.Repeat("a", 62) + `…" for http.`},
		{name: "sensitive then unknown", exec: "http --basic-auth SECRETSECRET --bogus", wantErr: "unknown flag --bogus for http.", notInErr: []string{"SECRETSECRET"}},
		{name: "sensitive equals then unknown", exec: "http --basic-auth=SECRETSECRET --bogus", wantErr: "unknown flag --bogus for http.", notInErr: []string{"SECRETSECRET"}},
		{name: "flag of another command", exec: "http --proxy-proto 1", wantErr: `--proxy-proto does not apply to http endpoints; it works with tls endpoints. Run "http --help" to see the flags this server offers.`},
		{name: "flag of other commands", exec: "tls --basic-auth SECRETSECRET", wantErr: "--basic-auth does not apply to tls endpoints; it works with http endpoints.", notInErr: []string{"SECRETSECRET"}},
		{name: "flag of disabled plugin", exec: "http --oidc https://issuer", wantErr: `--oidc needs the oidc plugin, which is not enabled on this server. Run "http --help"`},
		{name: "flag of disabled plugin equals", exec: "http --verify-webhook=SECRETSECRET", wantErr: "--verify-webhook needs the webhooks plugin, which is not enabled on this server.", notInErr: []string{"SECRETSECRET"}},
		{name: "single dash known", exec: "http -basic-auth SECRETSECRET", wantErr: "flags take two dashes: write --basic-auth instead of -basic-auth.", notInErr: []string{"SECRETSECRET"}},
		{name: "single dash other command", exec: "http -proxy-proto=1", wantErr: "flags take two dashes: write --proxy-proto instead of -proxy-proto."},
		{name: "single dash unknown", exec: "http -x", wantErr: `unknown flag -x for http. Run "http --help"`},
		{name: "single dash unknown equals", exec: "http -x=SECRETSECRET", wantErr: "unknown flag -x for http.", notInErr: []string{"SECRETSECRET"}},

		// Positional words.
		{name: "positional", exec: "http x", wantErr: `unexpected argument "x": only flags may follow "http", and a value with spaces must be quoted twice (e.g. "'my value'") because your local shell removes one set of quotes. Run "http --help" to see the flags this server offers.`},
		{name: "positional after value", exec: "http --oauth google extra", wantErr: `unexpected argument "extra":`},
		{name: "double dash", exec: "http -- x", wantErr: `unexpected argument "--":`},
		{name: "single dash word", exec: "http -", wantErr: `unexpected argument "-":`},
		{name: "unquoted secret with space", exec: "http --basic-auth ann:SECRET SECRETSECRET", wantErr: `unexpected argument after the value of --basic-auth: a value with spaces must be quoted twice (e.g. "'USER:PASSWORD'") because your local shell removes one set of quotes.`, notInErr: []string{"SECRETSECRET"}},
		{name: "unquoted secret with space equals", exec: "http --basic-auth=ann:SECRET SECRETSECRET", wantErr: "unexpected argument after the value of --basic-auth", notInErr: []string{"SECRETSECRET"}},

		// Limits and text.
		{name: "too long", exec: "http --oauth " + strings.Repeat("g", MaxExecBytes), wantErr: "the command is 4109 bytes long, but this server accepts at most 4096 bytes; shorten it."},
		{name: "longest accepted", exec: "http --oauth " + strings.Repeat("g", MaxExecBytes-13), want: inv("http", false, map[string][]string{"oauth": {strings.Repeat("g", MaxExecBytes-13)}})},
		{name: "too many words", exec: "http" + strings.Repeat(" --compression", MaxWords), wantErr: "the command has 257 words, but this server accepts at most 256; remove some flags."},
		{name: "most words accepted", exec: "http" + strings.Repeat(" --cidr-allow=1", MaxWords-1), want: inv("http", false, map[string][]string{"cidr-allow": slices.Repeat([]string{"1"}, MaxWords-1)})},
		{name: "NUL byte", exec: "http\x00--oauth", wantErr: "the command contains a NUL byte; send plain text only."},
		{name: "invalid UTF-8", exec: "http --oauth \xff", wantErr: "the command is not valid UTF-8 text; send plain text only."},
		{name: "control character", exec: "http --oauth \x1b[2J", wantErr: "the command contains the control character U+001B; send plain text only."},
		{name: "C1 control character", exec: "http --oauth \u009b", wantErr: "the command contains the control character U+009B"},
		{name: "unbalanced single quote", exec: "http --basic-auth 'ann:SECRETSECRET", wantErr: "the command has a single quote (') that is never closed; close it, or quote the value with double quotes instead.", notInErr: []string{"SECRETSECRET"}},
		{name: "unbalanced double quote", exec: `http --basic-auth "ann:SECRETSECRET`, wantErr: `the command has a double quote (") that is never closed; close it, or quote the value with single quotes instead.`, notInErr: []string{"SECRETSECRET"}},
		{name: "trailing backslash", exec: `http --oauth google\`, wantErr: `the command ends with a backslash (\) that escapes nothing; remove it, or quote it.`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			user := tt.user
			if user == "" {
				user = "v2"
			}
			got, err := s.Parse(user, tt.exec, tt.def)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("Parse(%q) = %+v, want error containing %q", tt.exec, got, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("Parse(%q) error:\n got %q\nwant it to contain %q", tt.exec, err, tt.wantErr)
				}
				if !usererr.Is(err) {
					t.Errorf("Parse(%q) error %q is not a usererr", tt.exec, err)
				}
				if got := usererr.Message(err, ""); got != err.Error() {
					t.Errorf("usererr.Message = %q, want %q", got, err.Error())
				}
				for _, bad := range tt.notInErr {
					if strings.Contains(err.Error(), bad) {
						t.Errorf("Parse(%q) error %q contains %q", tt.exec, err, bad)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q) error = %v, want %+v", tt.exec, err, tt.want)
			}
			if got.Version != tt.want.Version || got.Command != tt.want.Command || got.Help != tt.want.Help || !maps.EqualFunc(got.Values, tt.want.Values, slices.Equal) {
				t.Errorf("Parse(%q):\n got %+v\nwant %+v", tt.exec, got, tt.want)
			}
			if got.Values == nil {
				t.Errorf("Parse(%q).Values is nil, want a map", tt.exec)
			}
		})
	}
}

func inv(command string, help bool, values map[string][]string) *Invocation {
	if values == nil {
		values = map[string][]string{}
	}
	return &Invocation{Version: Latest, Command: command, Help: help, Values: values}
}

func TestParseNoCommands(t *testing.T) {
	s, err := NewSet(Options{})
	if err != nil {
		t.Fatalf("NewSet: %v", err)
	}
	_, err = s.Parse("v2", "http", "")
	want := `unknown command "http". No commands are enabled on this server. Run "help" for usage.`
	if err == nil || err.Error() != want {
		t.Fatalf("Parse error = %v, want %q", err, want)
	}
}

func TestOwners(t *testing.T) {
	s := testSet(t)
	tests := []struct {
		exec string
		want []string
	}{
		{exec: "http", want: nil},
		{exec: "http --compression --circuit-breaker 5", want: nil},
		{exec: "http --oauth google --oauth-allow-email a@b.c --basic-auth a:b --compression", want: []string{"basicauth", "oauth"}},
		{exec: "tls --proxy-proto 2", want: []string{"tlsx"}},
		{exec: "help http", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.exec, func(t *testing.T) {
			inv, err := s.Parse("v2", tt.exec, "")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := s.Owners(inv); !slices.Equal(got, tt.want) {
				t.Errorf("Owners = %q, want %q", got, tt.want)
			}
		})
	}
	if got := s.Owners(nil); got != nil {
		t.Errorf("Owners(nil) = %q, want nil", got)
	}
}

func TestRedacted(t *testing.T) {
	s := testSet(t)
	in := map[string][]string{
		"basic-auth":  {"ann:one", "bob:two"},
		"oauth":       {"google"},
		"pin":         {"1234"},
		"compression": {"true"},
		"unknown":     {"maybe-secret"},
	}
	want := map[string][]string{
		"basic-auth":  {"REDACTED", "REDACTED"},
		"oauth":       {"google"},
		"pin":         {"REDACTED"},
		"compression": {"true"},
		"unknown":     {"REDACTED"},
	}
	got := s.Redacted("http", in)
	if !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("Redacted:\n got %q\nwant %q", got, want)
	}
	if in["basic-auth"][0] != "ann:one" {
		t.Errorf("Redacted changed its input: %q", in)
	}
	got["oauth"][0] = "changed"
	if in["oauth"][0] != "google" {
		t.Errorf("Redacted result shares slices with its input")
	}
	if got := s.Redacted("nope", map[string][]string{"oauth": {"google"}}); got["oauth"][0] != "REDACTED" {
		t.Errorf("Redacted for an unknown command = %q, want every value redacted", got)
	}
	if got := s.Redacted("http", nil); got != nil {
		t.Errorf("Redacted(nil) = %q, want nil", got)
	}
}

func TestMaxExecBytesOption(t *testing.T) {
	s, err := NewSet(Options{Host: "edge", MaxExecBytes: 20}, Command{Name: "http", Summary: "x", Ports: "80"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Parse("v2", "http", ""); err != nil {
		t.Fatalf("short command: %v", err)
	}
	_, err = s.Parse("v2", "http "+strings.Repeat("x", 20), "")
	if err == nil || !strings.Contains(err.Error(), "at most 20 bytes") {
		t.Fatalf("long command: err %v, want the configured limit of 20 bytes", err)
	}
}
