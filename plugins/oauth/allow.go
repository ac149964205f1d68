package oauth

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/sshgress/sshgress/sdk"
)

// allowRules are a tunnel's --oauth-allow-email and --oauth-allow-domain
// values, lowercased. Both empty admits anyone with a verified email.
type allowRules struct {
	emails  []string
	domains []string
}

// parseAllowRules checks the flag values. Errors are sdk.UserErrors.
func parseAllowRules(emails, domains []string) (allowRules, error) {
	var r allowRules
	if len(emails) > MaxAllowRules {
		return r, sdk.UserErrorf("--%s can be given at most %d times (got %d)", FlagAllowEmail, MaxAllowRules, len(emails))
	}
	if len(domains) > MaxAllowRules {
		return r, sdk.UserErrorf("--%s can be given at most %d times (got %d)", FlagAllowDomain, MaxAllowRules, len(domains))
	}
	for _, e := range emails {
		e = strings.ToLower(strings.TrimSpace(e))
		local, domain, ok := strings.Cut(e, "@")
		if !ok || local == "" || strings.Contains(domain, "@") || !validHostname(domain) || len(e) > 254 || strings.IndexFunc(local, notEmailRune) >= 0 {
			return r, sdk.UserErrorf("--%s %q is not an email address", FlagAllowEmail, userText(e, 64))
		}
		r.emails = appendNew(r.emails, e)
	}
	for _, d := range domains {
		d = strings.ToLower(strings.TrimSpace(d))
		d = strings.TrimPrefix(strings.TrimPrefix(d, "*"), "@")
		if !validHostname(d) || !strings.Contains(d, ".") {
			return r, sdk.UserErrorf("--%s %q is not a domain like example.com", FlagAllowDomain, userText(d, 64))
		}
		r.domains = appendNew(r.domains, d)
	}
	return r, nil
}

func notEmailRune(r rune) bool {
	return r <= ' ' || r == 0x7f || r == '"' || r == '\\' || r == '(' || r == ')' || r == ',' || r == ';' || r == '<' || r == '>' || r == '[' || r == ']' || r == ':'
}

func appendNew(list []string, s string) []string {
	for _, e := range list {
		if e == s {
			return list
		}
	}
	return append(list, s)
}

// admits reports whether a verified email passes the rules. An unverified
// or empty email never does.
func (r allowRules) admits(email string, verified bool) bool {
	if !verified || email == "" {
		return false
	}
	email = strings.ToLower(email)
	if len(r.emails) == 0 && len(r.domains) == 0 {
		return true
	}
	for _, e := range r.emails {
		if e == email {
			return true
		}
	}
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return false
	}
	domain := email[at+1:]
	for _, d := range r.domains {
		if d == domain {
			return true
		}
	}
	return false
}

// describe is the banner text of the rules, e.g. "allowed: *@example.com".
func (r allowRules) describe() string {
	if len(r.emails) == 0 && len(r.domains) == 0 {
		return "any signed-in user with a verified email"
	}
	items := make([]string, 0, len(r.emails)+len(r.domains))
	for _, d := range r.domains {
		items = append(items, "*@"+d)
	}
	items = append(items, r.emails...)
	const shown = 4
	if len(items) > shown {
		return fmt.Sprintf("allowed: %s and %d more", strings.Join(items[:shown], ", "), len(items)-shown)
	}
	return "allowed: " + strings.Join(items, ", ")
}

// userText makes s fit for a one-line message: control characters dropped,
// at most n runes.
func userText(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	if r := []rune(s); len(r) > n {
		s = string(r[:n]) + "…"
	}
	return s
}
