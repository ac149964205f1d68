package command

import (
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/sshgress/sshgress/sdk"
)

const (
	// helpWidth is the widest line Help writes, in characters, except for
	// a single shell word longer than that (e.g. an absurd host name).
	helpWidth = 80
	// maxFlagColumn is where flag help starts at most; longer flag names
	// put their help on the next line.
	maxFlagColumn = 34
)

// Help returns the help text for an enabled command: usage, summary, remote
// ports, example and every flag with its owner. Tunnels gives its own help.
// "" — or a command that is not enabled — gives the general help: usage,
// the commands with their summaries, and the remote-name rules. The text is
// plain, deterministic, ends with a newline and keeps to 80 columns.
func (s *Set) Help(command string) string {
	if e, ok := s.byName[command]; ok {
		return s.commandHelp(e)
	}
	if command == Tunnels {
		return s.tunnelsHelp()
	}
	return s.generalHelp()
}

// tunnelsSummary is the tunnels command's line in the command list.
const tunnelsSummary = "List your live tunnels and their URLs."

func (s *Set) tunnelsHelp() string {
	var b strings.Builder
	b.WriteString("Usage:\n")
	writeLines(&b, shellLines("  ", "ssh ["+Latest+"@]"+s.host+" "+Tunnels))
	b.WriteString("\n")
	writeLines(&b, wrapText("", "", "List your live tunnels on this server with their public URLs, then exit. It needs no -R and opens no tunnel.", helpWidth))
	b.WriteString("\n")
	writeLines(&b, wrapText("", "", "A tunnel opened with ssh -N has no session to print its URL in: this is where to find it. Without a remote name, ssh -N gets the same name every time for your account and key, and a reconnect takes it back from a stale connection.", helpWidth))
	b.WriteString("\n")
	writeLines(&b, wrapText("", "", "Your tunnels are those of your account; on a server without accounts, those opened with the same SSH key.", helpWidth))
	b.WriteString("\nFlags:\n")
	column(&b, "  -h, --help", "Show this help.", 15)
	return b.String()
}

func (s *Set) usage(command string) []string {
	return shellLines("  ", "ssh -R [name:]port:localhost:LOCALPORT ["+Latest+"@]"+s.host+" "+command+" [flags]")
}

func (s *Set) commandHelp(e *entry) string {
	var b strings.Builder
	c := e.cmd
	b.WriteString("Usage:\n")
	writeLines(&b, s.usage(c.Name))
	if c.Summary != "" {
		b.WriteString("\n")
		writeLines(&b, wrapText("", "", c.Summary, helpWidth))
	}
	if c.Ports != "" {
		b.WriteString("\n")
		writeLines(&b, wrapText("", "              ", "Remote ports: "+c.Ports, helpWidth))
	}
	if c.Example != "" {
		b.WriteString("\nExample:\n")
		writeLines(&b, shellLines("  ", strings.ReplaceAll(c.Example, "{host}", s.host)))
	}
	b.WriteString("\nFlags:\n")
	type row struct{ left, help string }
	rows := make([]row, 0, len(c.Flags)+1)
	for _, f := range c.Flags {
		left := "  --" + f.Name
		if f.Short != "" {
			left = "  -" + f.Short + ", --" + f.Name
		}
		if f.Type != sdk.FlagBool {
			left += " " + valueName(f)
		}
		help := f.Help
		// A plugin's own help may say so already ("…; repeatable.").
		if f.Repeatable && !strings.Contains(strings.ToLower(help), "repeatable") {
			help = joinNonEmpty(help, "(repeatable)")
		}
		if f.Owner != "" {
			help = joinNonEmpty(help, "[plugin "+f.Owner+"]")
		}
		rows = append(rows, row{left, help})
	}
	rows = append(rows, row{"  -h, --help", "Show this help."})
	col := 0
	for _, r := range rows {
		col = max(col, runeLen(r.left)+3)
	}
	col = min(col, maxFlagColumn)
	for _, r := range rows {
		column(&b, r.left, r.help, col)
	}
	return b.String()
}

func (s *Set) generalHelp() string {
	var b strings.Builder
	b.WriteString("Give a service on your machine a public address, using only your SSH client.\n\n")
	b.WriteString("Usage:\n")
	writeLines(&b, s.usage("COMMAND"))
	b.WriteString("\nCommands:\n")
	names := append(append([]string(nil), s.names...), Tunnels, "help")
	col := 0
	for _, n := range names {
		col = max(col, runeLen(n)+5)
	}
	col = min(col, maxFlagColumn)
	for _, n := range names {
		var summary string
		switch n {
		case "help":
			summary = `Show this help, or "help COMMAND" for one command.`
		case Tunnels:
			summary = tunnelsSummary
		default:
			summary = s.byName[n].cmd.Summary
		}
		column(&b, "  "+n, summary, col)
	}
	if len(s.disabled) > 0 {
		off := slices.Sorted(maps.Keys(s.disabled))
		b.WriteString("\n")
		writeLines(&b, wrapText("", "", "Known but not enabled on this server: "+strings.Join(off, ", ")+".", helpWidth))
	}
	b.WriteString("\n")
	label := "myapp under this server's domain"
	if s.domain != "" {
		label = "myapp." + s.domain
	}
	writeLines(&b, wrapText("", "", "The remote name is optional: leave it out for a random public name, give a label (-R myapp:443:localhost:3000 asks for "+label+"), or a domain or address reserved for your account.", helpWidth))
	writeLines(&b, wrapText("", "", `Remote port 0 lets the server choose; "COMMAND --help" shows the ports it takes.`, helpWidth))
	if ex := s.generalExample(); ex != "" {
		b.WriteString("\nExample:\n")
		writeLines(&b, shellLines("  ", ex))
	}
	b.WriteString("\n")
	writeLines(&b, wrapText("", "", `Quote a flag value that contains spaces twice, because your shell removes one set of quotes: --flag "'two words'".`, helpWidth))
	writeLines(&b, wrapText("", "", `Run "ssh `+Latest+"@"+s.host+` COMMAND --help" to see the flags of a command.`, helpWidth))
	writeLines(&b, wrapText("", "", `With ssh -N nothing prints your URL: run "ssh `+Latest+"@"+s.host+` `+Tunnels+`" to see it.`, helpWidth))
	return b.String()
}

// generalExample is http's example if it has one, else the first command's.
func (s *Set) generalExample() string {
	pick := func(e *entry) string { return strings.ReplaceAll(e.cmd.Example, "{host}", s.host) }
	if e, ok := s.byName["http"]; ok && e.cmd.Example != "" {
		return pick(e)
	}
	for _, n := range s.names {
		if e := s.byName[n]; e.cmd.Example != "" {
			return pick(e)
		}
	}
	return ""
}

func writeLines(b *strings.Builder, lines []string) {
	for _, l := range lines {
		b.WriteString(strings.TrimRight(l, " ") + "\n")
	}
}

// wrapText fills text into lines of at most width characters; the first
// line starts with first, the others with rest. Words longer than a line
// are broken.
func wrapText(first, rest, text string, width int) []string {
	var lines []string
	prefix := first
	cur := ""
	flush := func() {
		lines = append(lines, prefix+cur)
		prefix, cur = rest, ""
	}
	for _, w := range strings.Fields(text) {
		for {
			avail := max(width-runeLen(prefix), 10)
			if cur == "" && runeLen(w) > avail {
				r := []rune(w)
				cur = string(r[:avail])
				w = string(r[avail:])
				flush()
				continue
			}
			if cur == "" {
				cur = w
			} else if runeLen(cur)+1+runeLen(w) <= avail {
				cur += " " + w
			} else {
				flush()
				continue
			}
			break
		}
	}
	if cur != "" || len(lines) == 0 {
		flush()
	}
	return lines
}

// column writes a two-column row: left, then text wrapped from column col.
// A left part too wide for the column puts the text on the next line.
func column(b *strings.Builder, left, text string, col int) {
	indent := strings.Repeat(" ", col)
	if runeLen(left)+2 > col {
		writeLines(b, wrapText("  ", "      ", left, helpWidth))
		if text != "" {
			writeLines(b, wrapText(indent, indent, text, helpWidth))
		}
		return
	}
	writeLines(b, wrapText(left+strings.Repeat(" ", col-runeLen(left)), indent, text, helpWidth))
}

// shellLines lays out a shell command line: on one line if it fits,
// otherwise split between words with " \" continuations, so the result can
// still be pasted into a shell.
func shellLines(indent, line string) []string {
	words := strings.Fields(line)
	if runeLen(indent+strings.Join(words, " ")) <= helpWidth {
		return []string{indent + strings.Join(words, " ")}
	}
	const cont = " \\"
	var lines []string
	cur := indent
	first := true
	for _, w := range words {
		switch {
		case first:
			cur += w
			first = false
		case runeLen(cur)+1+runeLen(w)+len(cont) <= helpWidth:
			cur += " " + w
		default:
			lines = append(lines, cur+cont)
			cur = indent + "    " + w
		}
	}
	return append(lines, cur)
}

func joinNonEmpty(a, b string) string {
	if a == "" {
		return b
	}
	return a + " " + b
}

func runeLen(s string) int { return utf8.RuneCountInString(s) }
