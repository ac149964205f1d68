package command

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sshgress/sshgress/sdk"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// longHostSet has a host name long enough to force shell-line wrapping and
// a flag name too long for the flag column.
func longHostSet(t *testing.T) *Set {
	t.Helper()
	s, err := NewSet(Options{Host: "tunnel.eu-central.edge-nodes.example-company-with-a-long-name.com -p 2222"},
		Command{
			Name:    "tcp",
			Summary: "Expose any local TCP service (SSH, databases, game servers) at a public host and port chosen by the server, or at a reserved address.",
			Ports:   "0, or the exact host:port of a reserved address",
			Example: "ssh -R 0:localhost:22 v2@{host} tcp",
			Flags: []Flag{
				{Owner: "tcp", FlagSpec: sdk.FlagSpec{Name: "a-flag-name-that-is-far-too-long-for-the-column", Type: sdk.FlagInt, Help: "Show that long names put their help on the next line."}},
				{FlagSpec: sdk.FlagSpec{Name: "quiet", Type: sdk.FlagBool}},
				{Owner: "tcp", FlagSpec: sdk.FlagSpec{Name: "url", ValueName: "https://" + strings.Repeat("x", 90), Help: "Break a value name longer than a line."}},
			},
		})
	if err != nil {
		t.Fatalf("NewSet: %v", err)
	}
	return s
}

func TestHelpGolden(t *testing.T) {
	s := testSet(t)
	long := longHostSet(t)
	bare, err := NewSet(Options{}, Command{Name: "http"})
	if err != nil {
		t.Fatalf("NewSet: %v", err)
	}
	tests := []struct {
		name string
		set  *Set
		cmd  string
	}{
		{name: "help_general", set: s, cmd: ""},
		{name: "help_http", set: s, cmd: "http"},
		{name: "help_tls", set: s, cmd: "tls"},
		{name: "help_disabled_is_general", set: s, cmd: "tcp"},
		{name: "help_long_host_general", set: long, cmd: ""},
		{name: "help_long_host_tcp", set: long, cmd: "tcp"},
		{name: "help_bare_http", set: bare, cmd: "http"},
		{name: "help_tunnels", set: s, cmd: Tunnels},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.set.Help(tt.cmd)
			path := filepath.Join("testdata", tt.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatalf("write golden: %v", err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden (run go test -update to create it): %v", err)
			}
			if got != string(want) {
				t.Errorf("Help(%q) differs from %s (run go test -update to accept):\n--- got ---\n%s--- want ---\n%s", tt.cmd, path, got, want)
			}
			if again := tt.set.Help(tt.cmd); again != got {
				t.Errorf("Help(%q) is not deterministic", tt.cmd)
			}
			checkHelpText(t, got)
		})
	}
}

// checkHelpText checks the layout rules every help text keeps.
func checkHelpText(t *testing.T, text string) {
	t.Helper()
	if !strings.HasSuffix(text, "\n") || strings.HasSuffix(text, "\n\n") {
		t.Errorf("help text should end with exactly one newline")
	}
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if n := utf8.RuneCountInString(line); n > helpWidth {
			t.Errorf("line %d is %d columns, want at most %d: %q", i+1, n, helpWidth, line)
		}
		if strings.TrimRight(line, " ") != line {
			t.Errorf("line %d has trailing spaces: %q", i+1, line)
		}
		if strings.ContainsAny(line, "\t\r") {
			t.Errorf("line %d has a tab or carriage return: %q", i+1, line)
		}
	}
}

func TestHelpMentions(t *testing.T) {
	s := testSet(t)
	http := s.Help("http")
	for _, want := range []string{
		"ssh -R [name:]port:localhost:LOCALPORT [v2@]localhost -p 2222 http [flags]",
		"Expose a local HTTP service at a public URL.",
		"Remote ports: 80, 443 or 0",
		"ssh -R 443:localhost:3000 v2@localhost -p 2222 http",
		"--basic-auth USER:PASSWORD",
		"(repeatable) [plugin basicauth]",
		"--compression ",
		"--circuit-breaker PERCENT",
		"--pin N",
		"-h, --help",
	} {
		if !strings.Contains(http, want) {
			t.Errorf("Help(http) lacks %q:\n%s", want, http)
		}
	}
	if strings.Contains(http, "proxy-proto") {
		t.Errorf("Help(http) lists --proxy-proto, a tls flag:\n%s", http)
	}
	general := s.Help("")
	for _, want := range []string{"http", "tls", "help", "not enabled on this server: tcp", "remote name"} {
		if !strings.Contains(general, want) {
			t.Errorf("Help(\"\") lacks %q:\n%s", want, general)
		}
	}
}

func TestWrapText(t *testing.T) {
	tests := []struct {
		name              string
		first, rest, text string
		width             int
		want              []string
	}{
		{name: "empty", text: "", width: 20, want: []string{""}},
		{name: "fits", text: "one two", width: 20, want: []string{"one two"}},
		{name: "wraps", text: "one two three four five", width: 10, want: []string{"one two", "three four", "five"}},
		{name: "hanging indent", first: "> ", rest: "  ", text: "aaaa bbbb cccc", width: 11, want: []string{"> aaaa bbbb", "  cccc"}},
		{name: "breaks long word", text: strings.Repeat("x", 25), width: 10, want: []string{"xxxxxxxxxx", "xxxxxxxxxx", "xxxxx"}},
		{name: "long word after text", text: "ab " + strings.Repeat("y", 12), width: 10, want: []string{"ab", "yyyyyyyyyy", "yy"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := wrapText(tt.first, tt.rest, tt.text, tt.width)
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("wrapText = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestShellLines(t *testing.T) {
	long := "ssh -R 443:localhost:3000 v2@" + strings.Repeat("h", 60) + ".example.com -p 2222 http --basic-auth x"
	got := shellLines("  ", long)
	if len(got) < 2 {
		t.Fatalf("shellLines kept a %d-column command on one line: %q", len(long), got)
	}
	var words []string
	for i, l := range got {
		if utf8.RuneCountInString(l) > helpWidth && len(strings.Fields(l)) > 2 {
			t.Errorf("line %d is over %d columns: %q", i, helpWidth, l)
		}
		last := i == len(got)-1
		if !last && !strings.HasSuffix(l, " \\") {
			t.Errorf("line %d lacks a continuation backslash: %q", i, l)
		}
		words = append(words, strings.Fields(strings.TrimSuffix(l, " \\"))...)
	}
	if strings.Join(words, " ") != long {
		t.Errorf("shellLines changed the words:\n got %q\nwant %q", strings.Join(words, " "), long)
	}
}

// TestHelpSaysRepeatableOnce: a repeatable flag's help says so once, also
// when the plugin's own help text already does.
func TestHelpSaysRepeatableOnce(t *testing.T) {
	s := testSet(t)
	for _, name := range []string{"http", "tls"} {
		cmd, _ := s.Lookup(name)
		text := strings.ToLower(s.Help(name))
		want := 0
		for _, f := range cmd.Flags {
			if f.Repeatable {
				want++
			}
		}
		if got := strings.Count(text, "repeatable"); got != want {
			t.Errorf("Help(%s) says \"repeatable\" %d times for %d repeatable flags:\n%s", name, got, want, text)
		}
	}
}

// TestGeneralHelpNamesWork: the general help's example name is a label
// under the server's domain, which any user (anonymous too) may ask for,
// not a custom domain only an account that reserved it gets.
func TestGeneralHelpNamesWork(t *testing.T) {
	text := testSet(t).Help("")
	if strings.Contains(text, "example.com") || strings.Contains(text, "example.org") {
		t.Errorf("general help names a custom domain a user without a reservation is refused:\n%s", text)
	}
	if !strings.Contains(text, "-R myapp:443:localhost:3000 asks for myapp.localhost") {
		t.Errorf("general help lacks the label example under the server's domain:\n%s", text)
	}
	if !strings.Contains(text, "tunnels") {
		t.Errorf("general help does not list the tunnels command:\n%s", text)
	}
}
