// Package dnsname holds the one normaliser every public name goes through:
// Host headers, TLS SNI, remote names from ssh -R, account reservations and
// certificate names. Routing and auth compare only its output, so they can
// never disagree about which name a request is for.
//
// It lives in its own package so that both core/account (reservations) and
// core/route (which depends on core/account) can use it; core/route
// re-exports it as route.Normalize.
package dnsname

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sshgress/sshgress/core/usererr"
	"golang.org/x/net/idna"
)

// MaxLength is the longest normalised name in bytes (RFC 1035 without the
// root dot).
const MaxLength = 253

// MaxLabelLength is the longest label in bytes (RFC 1035).
const MaxLabelLength = 63

// maxInput bounds the input Normalize looks at, so a hostile 10 KiB Host
// header costs no IDNA work. Unicode input may be longer in bytes than its
// ASCII form, hence more than MaxLength.
const maxInput = 1024

// maxQuoted is how many bytes of a bad input an error message repeats.
const maxQuoted = 80

// profile is the IDNA lookup profile (UTS #46 mapping: case folding, width
// and compatibility mapping, Bidi rule, punycode validation). CheckHyphens
// is off, as in browsers: "r3---sn-abc" is a real host name; the leading and
// trailing hyphen rule is checked by validate instead. STD3 rules are off
// because validate checks the ASCII output itself, with a better message.
var profile = idna.New(
	idna.MapForLookup(),
	idna.BidiRule(),
	idna.StrictDomainName(false),
	idna.CheckHyphens(false),
)

// Normalize returns the canonical form of a host name: a trailing ":port"
// (also after "[v6]") and one trailing dot removed, lowercased, converted to
// ASCII with IDNA (UTS #46 lookup mapping, so "Bücher.example" becomes
// "xn--bcher-kva.example"), then checked: at most 253 bytes, labels of 1–63
// characters from [a-z0-9-] not starting or ending with a hyphen, and not an
// IP address (nor a name ending in a number, which browsers read as an IPv4
// address). Single-label names ("ann") are accepted.
//
// Normalize is idempotent: Normalize(n) == n for every n it returns. Errors
// are usererr errors naming the input (truncated to about 80 bytes). An input
// that is already normal is returned as is, without allocating.
func Normalize(name string) (string, error) {
	if len(name) > maxInput {
		return "", usererr.Errorf("name %s is too long (the limit is %d characters)", Quote(name), MaxLength)
	}
	host, err := stripPort(name)
	if err != nil {
		return "", err
	}
	dotStripped := false
	if strings.HasSuffix(host, ".") {
		host = host[:len(host)-1]
		dotStripped = true
	}
	if host == "" {
		return "", emptyError(name)
	}

	if isASCII(host) {
		host = lowerASCII(host)
		if err := validate(name, host); err != nil {
			return "", err
		}
		if !hasACELabel(host) {
			return host, nil
		}
		// An "xn--" label must be valid punycode of a valid U-label.
		out, err := profile.ToASCII(host)
		if err != nil {
			return "", idnaError(name, err)
		}
		if out != host {
			if err := validate(name, out); err != nil {
				return "", err
			}
		}
		return out, nil
	}

	if !utf8.ValidString(host) {
		return "", usererr.Errorf("name %s is not valid UTF-8", Quote(name))
	}
	out, err := profile.ToASCII(host)
	if err != nil {
		return "", idnaError(name, err)
	}
	// Mapping can turn an ideographic full stop into a trailing dot; strip
	// it unless a dot was already stripped (only one ever is).
	if !dotStripped && strings.HasSuffix(out, ".") {
		out = out[:len(out)-1]
	}
	if out == "" {
		return "", emptyError(name)
	}
	if err := validate(name, out); err != nil {
		return "", err
	}
	return out, nil
}

// NormalizeHostPort returns the canonical form of a TCP address "host:port":
// the host normalised by Normalize, or an IP literal in its canonical form
// (IPv4-mapped IPv6 unmapped, IPv6 in brackets), and a decimal port 1–65535
// without leading zeros. It is the key for reserved TCP addresses.
func NormalizeHostPort(hostport string) (string, error) {
	if len(hostport) > maxInput {
		return "", usererr.Errorf("address %s is too long", Quote(hostport))
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", usererr.Wrap(err, "address "+Quote(hostport)+" is not host:port")
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 || !isDigits(port) {
		return "", usererr.Errorf("address %s has an invalid port; use a number from 1 to 65535", Quote(hostport))
	}
	if host == "" {
		return "", usererr.Errorf("address %s has no host", Quote(hostport))
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		host = ip.Unmap().String()
	} else {
		if host, err = Normalize(host); err != nil {
			return "", err
		}
	}
	return net.JoinHostPort(host, strconv.FormatUint(n, 10)), nil
}

// IsIP reports whether s is an IP address literal: IPv4, IPv6 (with or
// without a zone) or IPv6 in brackets.
func IsIP(s string) bool {
	if len(s) >= 2 && s[0] == '[' && s[len(s)-1] == ']' {
		s = s[1 : len(s)-1]
	}
	_, err := netip.ParseAddr(s)
	return err == nil
}

// Quote returns s quoted for an error message, cut to about 80 bytes at a
// character boundary so a huge input cannot flood the user's terminal.
func Quote(s string) string {
	if len(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	cut := maxQuoted
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "... (" + strconv.Itoa(len(s)) + " bytes)"
}

// stripPort removes a ":port" suffix. Bracketed and multi-colon inputs are
// IPv6 literals or garbage; both are rejected here.
func stripPort(name string) (string, error) {
	if strings.HasPrefix(name, "[") {
		end := strings.IndexByte(name, ']')
		if end < 0 {
			return "", usererr.Errorf("name %s has an unclosed '['", Quote(name))
		}
		if rest := name[end+1:]; rest != "" && (rest[0] != ':' || !validPort(rest[1:])) {
			return "", portError(name)
		}
		if IsIP(name[1:end]) {
			return "", ipError(name)
		}
		return "", usererr.Errorf("name %s is not a domain name; brackets are only used around IPv6 addresses", Quote(name))
	}
	i := strings.IndexByte(name, ':')
	if i < 0 {
		return name, nil
	}
	if strings.IndexByte(name[i+1:], ':') >= 0 {
		if IsIP(name) {
			return "", ipError(name)
		}
		return "", charError(name, ':')
	}
	if !validPort(name[i+1:]) {
		return "", portError(name)
	}
	return name[:i], nil
}

// validPort reports whether p is a plausible port: up to 5 digits. An empty
// port ("host:") is allowed, as in URLs.
func validPort(p string) bool {
	return len(p) <= 5 && isDigits(p)
}

// validate checks an ASCII, lowercased name without port or trailing dot.
// orig is the caller's input, for error messages.
func validate(orig, host string) error {
	if len(host) > MaxLength {
		return usererr.Errorf("name %s is too long (%d characters; the limit is %d)", Quote(orig), len(host), MaxLength)
	}
	start := 0
	for i := 0; i <= len(host); i++ {
		if i < len(host) && host[i] != '.' {
			c := host[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				r, _ := utf8.DecodeRuneInString(host[i:])
				return charError(orig, r)
			}
			continue
		}
		label := host[start:i]
		switch {
		case label == "":
			return usererr.Errorf("name %s has an empty label (two dots in a row, or a leading dot)", Quote(orig))
		case len(label) > MaxLabelLength:
			return usererr.Errorf("name %s has a label longer than %d characters", Quote(orig), MaxLabelLength)
		case label[0] == '-' || label[len(label)-1] == '-':
			return usererr.Errorf("name %s has a label that starts or ends with a hyphen", Quote(orig))
		}
		start = i + 1
	}
	if endsInNumber(host) {
		return ipError(orig)
	}
	return nil
}

// endsInNumber reports whether the last label of host is a number in the
// WHATWG URL sense (decimal, or "0x" hex): browsers parse such a host as an
// IPv4 address ("127.1", "0x7f.1", "2130706433"). Every IPv4 literal is one.
func endsInNumber(host string) bool {
	last := host[strings.LastIndexByte(host, '.')+1:]
	if last == "" {
		return false
	}
	if isDigits(last) {
		return true
	}
	if len(last) >= 2 && last[0] == '0' && last[1] == 'x' {
		for i := 2; i < len(last); i++ {
			c := last[i]
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
		return true
	}
	return false
}

// hasACELabel reports whether any label of host starts with "xn--".
func hasACELabel(host string) bool {
	for {
		if strings.HasPrefix(host, "xn--") {
			return true
		}
		i := strings.IndexByte(host, '.')
		if i < 0 {
			return false
		}
		host = host[i+1:]
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// lowerASCII lowercases ASCII s, returning s itself when it has no
// uppercase letter.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

func emptyError(orig string) error {
	if orig == "" {
		return usererr.New("the name is empty")
	}
	return usererr.Errorf("name %s is empty once its port and trailing dot are removed", Quote(orig))
}

func ipError(orig string) error {
	return usererr.Errorf("name %s is an IP address; IP addresses cannot be used as names", Quote(orig))
}

func portError(orig string) error {
	return usererr.Errorf("name %s has an invalid port", Quote(orig))
}

func charError(orig string, r rune) error {
	return usererr.Errorf("name %s contains %q, which is not allowed in a domain name (use letters, digits, hyphens and dots)", Quote(orig), r)
}

func idnaError(orig string, err error) error {
	return usererr.Wrap(err, "name "+Quote(orig)+" is not a valid internationalized domain name")
}
