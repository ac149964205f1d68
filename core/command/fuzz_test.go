package command

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/kballard/go-shellquote"
	"github.com/sshgress/sshgress/core/usererr"
)

// parseSeeds are exec strings for the fuzz targets: valid lines, every kind
// of error, and secrets next to mistakes.
var parseSeeds = []string{
	"",
	"http",
	"help",
	"help http",
	"http --help",
	"http --basic-auth SECRETSECRET --bogus",
	"http --basic-auth=SECRETSECRET --bogus=x",
	"http --basic-auth 'ann:SECRET SECRET' --oauth google",
	"http --basic-auth ann:SECRET SECRETSECRET",
	"http --basic-auth --SECRETSECRET",
	"http --pin SECRETSECRET",
	"http --hidden=SECRETSECRET",
	"http --oauth-client-secret SECRETSECRET --oauth-client-secret SECRETSECRET",
	"http --basic-auth 'ann:SECRETSECRET",
	"tls --basic-auth SECRETSECRET",
	"--basic-auth=SECRETSECRET http",
	"http --compression false",
	"http --circuit-breaker=+007 --cidr-allow 10.0.0.0/8 --cidr-allow ::1/128",
	"tcp --proxy-proto 2",
	"tls --proxy-proto x",
	"http -basic-auth x",
	"http -- x",
	`http --oauth "unterminated`,
	"http --oauth \xff",
	"http\x00",
	"HTTP --OAUTH google",
	"http --oidc https://issuer.example.com",
	"tunnels",
	"TUNNELS --help",
	"help tunnels",
	"tunnels --basic-auth SECRETSECRET",
}

func FuzzParse(f *testing.F) {
	for _, s := range parseSeeds {
		f.Add("v2", s)
	}
	f.Add("v1", "http")
	f.Add("ann", "")
	s := testSet(f)
	f.Fuzz(func(t *testing.T, user, exec string) {
		inv, err := s.Parse(user, exec, "http")
		if err != nil {
			if inv != nil {
				t.Fatalf("Parse(%q, %q) returned both %+v and error %v", user, exec, inv, err)
			}
			if !usererr.Is(err) {
				t.Fatalf("Parse(%q, %q) error %q is not a usererr", user, exec, err)
			}
			if err.Error() == "" || strings.ContainsAny(err.Error(), "\x00\r\n\x1b") {
				t.Fatalf("Parse(%q, %q) error %q is empty or has control characters", user, exec, err)
			}
			checkSecretsHidden(t, s, user, exec, err)
			return
		}
		if inv.Version != Latest || inv.Values == nil {
			t.Fatalf("Parse(%q, %q) = %+v, want version %q and non-nil values", user, exec, inv, Latest)
		}
		if inv.Help {
			if len(inv.Values) != 0 {
				t.Fatalf("Parse(%q, %q) asks for help but has values %q", user, exec, inv.Values)
			}
			if inv.Command != "" && inv.Command != Tunnels {
				if _, ok := s.Lookup(inv.Command); !ok {
					t.Fatalf("Parse(%q, %q) asks for help on unknown command %q", user, exec, inv.Command)
				}
			}
			return
		}
		if inv.List != (inv.Command == Tunnels) || inv.List && len(inv.Values) != 0 {
			t.Fatalf("Parse(%q, %q) = %+v: List must go with the tunnels command alone", user, exec, inv)
		}
		if inv.List {
			return
		}
		cmd, ok := s.Lookup(inv.Command)
		if !ok {
			t.Fatalf("Parse(%q, %q) gave unknown command %q", user, exec, inv.Command)
		}
		for name, vs := range inv.Values {
			var fl *Flag
			for i := range cmd.Flags {
				if cmd.Flags[i].Name == name {
					fl = &cmd.Flags[i]
				}
			}
			if fl == nil {
				t.Fatalf("Parse(%q, %q) gave values for --%s, which %s does not offer", user, exec, name, inv.Command)
			}
			if len(vs) == 0 || (len(vs) > 1 && !fl.Repeatable) {
				t.Fatalf("Parse(%q, %q) gave %d values for --%s (repeatable %v)", user, exec, len(vs), name, fl.Repeatable)
			}
		}
		red := s.Redacted(inv.Command, inv.Values)
		for _, f := range cmd.Flags {
			if vs, ok := red[f.Name]; ok && f.Sensitive && (len(vs) == 0 || vs[0] != "REDACTED") {
				t.Fatalf("Redacted(%q) kept sensitive --%s: %q", inv.Command, f.Name, vs)
			}
		}
	})
}

// checkSecretsHidden fails if err shows the value of a sensitive flag. It
// finds each sensitive value in the words, parses the line again with the
// values replaced, and reports a value that appears in the first error but
// not in the second: such text came from the secret, not from the message
// template or other words.
func checkSecretsHidden(t *testing.T, s *Set, user, exec string, err error) {
	t.Helper()
	words, splitErr := shellquote.Split(exec)
	if splitErr != nil || len(words) == 0 {
		return
	}
	sensitive := make(map[string]bool)
	for _, c := range s.Commands() {
		for _, f := range c.Flags {
			if f.Sensitive {
				sensitive[f.Name] = true
			}
		}
	}
	type found struct {
		index  int
		prefix string
		value  string
	}
	var secrets []found
	for i, w := range words {
		name, value, hasValue := strings.Cut(strings.TrimPrefix(w, "--"), "=")
		if !strings.HasPrefix(w, "--") || !sensitive[name] {
			continue
		}
		if hasValue {
			secrets = append(secrets, found{i, "--" + name + "=", value})
		} else if i+1 < len(words) {
			secrets = append(secrets, found{i + 1, "", words[i+1]})
		}
	}
	for _, sec := range secrets {
		v := sec.value
		if len(v) < 6 || strings.HasPrefix(v, "-") {
			continue // short or dashed words may be flags or template text
		}
		other := false
		for i, w := range words {
			if i != sec.index && strings.Contains(w, v) {
				other = true
			}
		}
		if other || !strings.Contains(err.Error(), v) {
			continue
		}
		replaced := append([]string(nil), words...)
		replaced[sec.index] = sec.prefix + strings.Repeat("Q", len([]rune(v)))
		_, err2 := s.Parse(user, shellquote.Join(replaced...), "http")
		if err2 == nil || !strings.Contains(err2.Error(), v) {
			t.Fatalf("Parse(%q, %q) error shows the sensitive value %q: %q", user, exec, v, err)
		}
	}
}

func FuzzParseVersion(f *testing.F) {
	for _, u := range []string{"", "v2", "V2", "v1", "v3", "V9", "ann", "v", "v02", "v99999999999999999999"} {
		f.Add(u)
	}
	f.Fuzz(func(t *testing.T, user string) {
		got, err := ParseVersion(user)
		if err != nil {
			if !usererr.Is(err) || got != "" {
				t.Fatalf("ParseVersion(%q) = %q, %v; want a usererr and no version", user, got, err)
			}
			return
		}
		if got != Latest {
			t.Fatalf("ParseVersion(%q) = %q, want %q", user, got, Latest)
		}
	})
}

func FuzzWrapText(f *testing.F) {
	f.Add("Ask visitors for this user name and password.", 20)
	f.Add(strings.Repeat("x", 100), 10)
	f.Add("a\tb  c\nd é漢字", 12)
	f.Fuzz(func(t *testing.T, text string, width int) {
		if width < 20 || width > 200 || len(text) > 2000 || !utf8.ValidString(text) {
			return
		}
		lines := wrapText("  ", "    ", text, width)
		var words []string
		for _, l := range lines {
			if n := runeLen(l); n > width {
				t.Fatalf("wrapText(%q, %d) line %q is %d wide", text, width, l, n)
			}
			words = append(words, strings.Fields(l)...)
		}
		if strings.Join(words, "") != strings.Join(strings.Fields(text), "") {
			t.Fatalf("wrapText(%q, %d) lost text: %q", text, width, lines)
		}
	})
}
