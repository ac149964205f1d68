package command

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/kballard/go-shellquote"
	"github.com/sshgress/sshgress/core/usererr"
	"github.com/sshgress/sshgress/sdk"
)

const (
	// MaxExecBytes is the default longest exec string Parse accepts, in
	// bytes (Options.MaxExecBytes overrides it).
	MaxExecBytes = 4096
	// MaxWords is the most words Parse accepts in one exec string, the
	// command included.
	MaxWords = 256
	// maxEcho is how many characters of a user's word an error quotes.
	maxEcho = 64
)

// Invocation is a parsed command line.
type Invocation struct {
	// Version is the command-syntax version; always Latest today.
	Version string
	// Command is the endpoint type, e.g. "http"; "" when Help asks for the
	// general help.
	Command string
	// Help is set when --help or -h was given anywhere, or the command was
	// "help". Values is then empty: the caller prints Set.Help(Command).
	Help bool
	// List is set for the built-in Tunnels command (Command is then
	// Tunnels): the caller lists the user's live tunnels and opens none.
	List bool
	// Values maps each flag given (name without dashes) to its values in
	// the order given. Bool flags have "true" or "false"; int flags a
	// canonical base-10 integer. Never nil. Values of Sensitive flags are
	// secrets: log them through Set.Redacted.
	Values map[string][]string
}

// ParseVersion checks the SSH user name, which versions the command syntax
// as in ngrok's SSH agent. "v2" (in any case) gives Latest; so does any
// user name that is not v followed by digits ("ann", "root", ""), since such
// names only identify the user. Any other version ("v1", "v3", "V9") is a
// user error.
func ParseVersion(user string) (string, error) { return parseVersion(user, "") }

func parseVersion(user, host string) (string, error) {
	if !versionLike(user) || strings.EqualFold(user, Latest) {
		return Latest, nil
	}
	if host == "" {
		host = "HOST"
	}
	return "", usererr.Errorf("Could not find API version %s (from the SSH user name). This server speaks %s: use %s@%s, or leave the user name out.",
		quote(user), Latest, Latest, host)
}

// versionLike reports whether user has the form v<digits> (either case).
func versionLike(user string) bool {
	if len(user) < 2 || (user[0] != 'v' && user[0] != 'V') {
		return false
	}
	for i := 1; i < len(user); i++ {
		if user[i] < '0' || user[i] > '9' {
			return false
		}
	}
	return true
}

// Parse parses the SSH user name and exec string of one session.
// defaultCommand is used when exec is empty or blank (a plain `ssh -R ...
// edge` shell or `ssh -N`); "" makes a blank exec an error. Every error is a
// usererr fit to print in the user's terminal; none contains the value of a
// Sensitive flag.
//
// The exec string is split like /bin/sh words (quotes and backslashes), so
// `--basic-auth 'a b:c d'` is one value. Its first word is the command, or
// "help" (optionally followed by a command). After the command come only
// flags: --name value, --name=value, and for bool flags --name or
// --name=true|false. -h or --help anywhere asks for help, which wins over
// every error but an unknown command.
func (s *Set) Parse(user, exec, defaultCommand string) (*Invocation, error) {
	version, err := parseVersion(user, s.host)
	if err != nil {
		return nil, err
	}
	words, err := splitExec(exec, s.maxExec)
	if err != nil {
		return nil, err
	}
	if len(words) == 0 {
		if defaultCommand == "" {
			return nil, usererr.Errorf("no command given. %s Run \"help\" for usage.", s.available())
		}
		words = []string{defaultCommand}
	}
	inv := &Invocation{Version: version, Values: map[string][]string{}}
	help := false
	for _, w := range words {
		if isHelpWord(w) {
			help = true
			break
		}
	}

	first := words[0]
	if strings.HasPrefix(first, "-") {
		if help {
			inv.Help = true
			return inv, nil
		}
		return nil, usererr.Errorf("missing command before %s: the endpoint type comes first. %s Run \"help\" for usage.",
			flagDisplay(first), s.available())
	}
	name := strings.ToLower(first)
	if name == "help" {
		inv.Help = true
		for _, w := range words[1:] {
			if !strings.HasPrefix(w, "-") {
				target := strings.ToLower(w)
				if _, err := s.lookupCommand(target); err != nil && target != Tunnels {
					return nil, err
				}
				inv.Command = target
				break
			}
		}
		return inv, nil
	}
	if name == Tunnels {
		inv.Command = Tunnels
		if help {
			inv.Help = true
			return inv, nil
		}
		if len(words) > 1 {
			return nil, usererr.Errorf("%s takes no flags or arguments: run \"%s\" alone, or \"%s --help\".", Tunnels, Tunnels, Tunnels)
		}
		inv.List = true
		return inv, nil
	}
	e, err := s.lookupCommand(name)
	if err != nil {
		return nil, err
	}
	inv.Command = name
	if help {
		inv.Help = true
		return inv, nil
	}
	if err := s.parseFlags(e, words[1:], inv.Values); err != nil {
		return nil, err
	}
	return inv, nil
}

// splitExec checks the exec string's size (at most max bytes) and
// characters and splits it into words.
func splitExec(exec string, max int) ([]string, error) {
	if len(exec) > max {
		return nil, usererr.Errorf("the command is %d bytes long, but this server accepts at most %d bytes; shorten it.", len(exec), max)
	}
	if !utf8.ValidString(exec) {
		return nil, usererr.New("the command is not valid UTF-8 text; send plain text only.")
	}
	for _, r := range exec {
		switch {
		case r == 0:
			return nil, usererr.New("the command contains a NUL byte; send plain text only.")
		case r == '\t' || r == '\n' || r == '\r':
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return nil, usererr.Errorf("the command contains the control character %U; send plain text only.", r)
		}
	}
	words, err := shellquote.Split(exec)
	switch {
	case errors.Is(err, shellquote.UnterminatedSingleQuoteError):
		return nil, usererr.Wrap(err, "the command has a single quote (') that is never closed; close it, or quote the value with double quotes instead.")
	case errors.Is(err, shellquote.UnterminatedDoubleQuoteError):
		return nil, usererr.Wrap(err, `the command has a double quote (") that is never closed; close it, or quote the value with single quotes instead.`)
	case errors.Is(err, shellquote.UnterminatedEscapeError):
		return nil, usererr.Wrap(err, `the command ends with a backslash (\) that escapes nothing; remove it, or quote it.`)
	case err != nil:
		return nil, usererr.Wrap(err, "the command could not be split into words; check its quotes.")
	}
	if len(words) > MaxWords {
		return nil, usererr.Errorf("the command has %d words, but this server accepts at most %d; remove some flags.", len(words), MaxWords)
	}
	return words, nil
}

func isHelpWord(w string) bool {
	return w == "-h" || w == "--help" || strings.HasPrefix(w, "--help=")
}

// lookupCommand finds an enabled command or explains why it is not one.
func (s *Set) lookupCommand(name string) (*entry, error) {
	if e, ok := s.byName[name]; ok {
		return e, nil
	}
	if plugin, ok := s.disabled[name]; ok {
		return nil, usererr.Errorf("%s endpoints are not enabled on this server (they need the %s plugin). %s Run \"help\" for usage.",
			name, plugin, s.available())
	}
	return nil, usererr.Errorf("unknown command %s. %s Run \"help\" for usage.", quote(name), s.available())
}

// available lists the enabled commands as one sentence.
func (s *Set) available() string {
	if len(s.names) == 0 {
		return "No commands are enabled on this server."
	}
	return "Available commands: " + strings.Join(s.names, ", ") + "."
}

// parseFlags parses the words after the command into values.
func (s *Set) parseFlags(e *entry, args []string, values map[string][]string) error {
	cmd := e.cmd.Name
	var afterSecret, afterBool *Flag // the flag whose value or switch was the previous word
	for i := 0; i < len(args); i++ {
		w := args[i]
		prevSecret, prevBool := afterSecret, afterBool
		afterSecret, afterBool = nil, nil

		if !strings.HasPrefix(w, "-") || w == "-" || w == "--" {
			return unexpected(cmd, w, prevSecret, prevBool)
		}
		var name, value string
		var hasValue bool
		if strings.HasPrefix(w, "--") {
			name, value, hasValue = strings.Cut(w[2:], "=")
		} else if long, ok := e.shortFlags[w[1:]]; ok {
			name = long // a core switch's one-letter alias: -v
		} else {
			return s.singleDash(e, w)
		}
		f, ok := e.flags[name]
		if !ok {
			return s.notOffered(cmd, name)
		}
		if !f.Repeatable && len(values[name]) > 0 {
			return usererr.Errorf("--%s was given more than once, but it takes a single value; keep one.", name)
		}
		if f.Type == sdk.FlagBool {
			v := "true"
			if hasValue {
				switch strings.ToLower(value) {
				case "true":
				case "false":
					v = "false"
				default:
					if f.Sensitive {
						return usererr.Errorf("--%s is a switch: write --%s, --%s=true or --%s=false.", name, name, name, name)
					}
					return usererr.Errorf("--%s is a switch: write --%s, --%s=true or --%s=false, not %s.", name, name, name, name, quote(value))
				}
			}
			values[name] = append(values[name], v)
			afterBool = &f
			continue
		}
		if !hasValue {
			if i+1 >= len(args) || strings.HasPrefix(args[i+1], "--") {
				vn := valueName(f)
				return usererr.Errorf("--%s needs a value: write --%s %s, or --%s=%s if the value starts with \"--\".", name, name, vn, name, vn)
			}
			i++
			value = args[i]
		}
		if value == "" {
			return usererr.Errorf("--%s needs a value, but it is empty: write --%s %s.", name, name, valueName(f))
		}
		if f.Type == sdk.FlagInt {
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil {
				if f.Sensitive {
					return usererr.Errorf("--%s needs a whole number.", name)
				}
				return usererr.Errorf("--%s needs a whole number, not %s.", name, quote(value))
			}
			value = strconv.FormatInt(n, 10)
		}
		values[name] = append(values[name], value)
		if f.Sensitive {
			afterSecret = &f
		}
	}
	return nil
}

// unexpected explains a word after the command that is not a flag. A word
// right after a sensitive value is likely the rest of an unquoted secret,
// and one right after a sensitive switch may be meant as its value, so
// neither is echoed.
func unexpected(cmd, w string, prevSecret, prevBool *Flag) error {
	if prevSecret != nil {
		return usererr.Errorf("unexpected argument after the value of --%s: a value with spaces must be quoted twice (e.g. \"'%s'\") because your local shell removes one set of quotes.",
			prevSecret.Name, valueName(*prevSecret))
	}
	if prevBool != nil && prevBool.Sensitive {
		// The user may have meant the word as the switch's secret value:
		// it is not echoed either.
		return usererr.Errorf("unexpected argument after --%s: --%s is a switch and takes no separate value (write --%s, or --%s=false); the argument is not shown because --%s is sensitive.",
			prevBool.Name, prevBool.Name, prevBool.Name, prevBool.Name, prevBool.Name)
	}
	if prevBool != nil {
		switch strings.ToLower(w) {
		case "true", "false":
			return usererr.Errorf("unexpected argument %s: --%s is a switch and takes no separate value; write --%s=%s.",
				quote(w), prevBool.Name, prevBool.Name, strings.ToLower(w))
		}
	}
	return usererr.Errorf("unexpected argument %s: only flags may follow %q, and a value with spaces must be quoted twice (e.g. \"'my value'\") because your local shell removes one set of quotes. Run \"%s --help\" to see the flags this server offers.",
		quote(w), cmd, cmd)
}

// singleDash explains a word with one leading dash (only -h is valid).
func (s *Set) singleDash(e *entry, w string) error {
	name, _, _ := strings.Cut(w[1:], "=")
	if _, ok := e.flags[name]; ok {
		return usererr.Errorf("flags take two dashes: write --%s instead of -%s.", name, name)
	}
	if _, ok := s.flagCommands[name]; ok {
		return usererr.Errorf("flags take two dashes: write --%s instead of -%s.", name, name)
	}
	return usererr.Errorf("unknown flag %s for %s. Run \"%s --help\" to see the flags this server offers.",
		flagDisplay(w), e.cmd.Name, e.cmd.Name)
}

// notOffered explains a --name the command does not accept: a flag of
// other commands, a flag of a disabled plugin, or an unknown flag.
func (s *Set) notOffered(cmd, name string) error {
	hint := fmt.Sprintf("Run \"%s --help\" to see the flags this server offers.", cmd)
	if plugin, ok := s.disabledCmdFlags[cmd][name]; ok {
		return usererr.Errorf("--%s on %s endpoints needs the %s plugin, which is not enabled on this server. %s", name, cmd, plugin, hint)
	}
	if cmds, ok := s.flagCommands[name]; ok {
		return usererr.Errorf("--%s does not apply to %s endpoints; it works with %s endpoints. %s", name, cmd, joinAnd(cmds), hint)
	}
	if plugin, ok := s.disabledFlags[name]; ok {
		return usererr.Errorf("--%s needs the %s plugin, which is not enabled on this server. %s", name, plugin, hint)
	}
	return usererr.Errorf("unknown flag %s for %s. %s", flagDisplay("--"+name), cmd, hint)
}

// flagDisplay shows a flag word as typed, without any =value: bare when it
// is a plain name, quoted and truncated otherwise.
func flagDisplay(w string) string {
	w, _, _ = strings.Cut(w, "=")
	if validName(strings.TrimLeft(w, "-")) && utf8.RuneCountInString(w) <= maxEcho {
		return w
	}
	return quote(w)
}

// valueName is the placeholder for a flag's value in messages and help.
func valueName(f Flag) string {
	switch {
	case f.ValueName != "":
		return f.ValueName
	case f.Type == sdk.FlagInt:
		return "N"
	}
	return "VALUE"
}

// quote quotes a user's word for a message, truncated to maxEcho characters.
func quote(s string) string {
	if utf8.RuneCountInString(s) > maxEcho {
		r := []rune(s)
		s = string(r[:maxEcho]) + "…"
	}
	return strconv.Quote(s)
}
