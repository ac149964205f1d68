package sdk

import (
	"fmt"
	"net/netip"
	"regexp"
	"regexp/syntax"
	"unicode/utf8"
)

// StaticRules are per-request rules of an http tunnel that a plugin
// returns from OpenTunnel (OpenResult.Rules) and the edge enforces itself:
// checked before any middleware's Check, with no call to the plugin, so a
// refused visitor costs no RPC and a plugin that returns only rules need
// not implement HTTPMiddleware at all. A request any rule refuses gets the
// edge's 403 page; deny wins over allow.
//
// The edge keeps the rules the first OpenTunnel returned: a replay after a
// plugin restart does not change them. Rules returned for a tunnel of
// another command (tcp, tls) refuse that tunnel, since only http requests
// carry them; endpoint types have Binding.CIDRAllow and CIDRDeny instead.
// An edge older than static rules would drop them, so Serve refuses such
// a tunnel for the plugin (the edge announces that it enforces them).
type StaticRules struct {
	// CIDRAllow, when not empty, admits only visitors inside one of these
	// prefixes, e.g. "203.0.113.0/24" (the same engine as
	// Binding.CIDRAllow). ParseCIDR parses a user's value.
	CIDRAllow []string
	// CIDRDeny refuses visitors inside any of these prefixes; deny wins.
	CIDRDeny []string
	// UserAgentAllow, when not empty, admits only requests whose
	// User-Agent matches one of these RE2 expressions. Matching is
	// unanchored (use ^ and $ to anchor); a request without User-Agent is
	// matched as the empty string, and one with several must have every
	// value admitted. ParseUserAgentRegexp checks a user's value.
	UserAgentAllow []string
	// UserAgentDeny refuses requests whose User-Agent matches any of these
	// RE2 expressions; deny wins over allow.
	UserAgentDeny []string

	// RateLimit, when set, answers 429 to a caller over its limit
	// (trafficlimits.go). An edge that does not enforce it refuses the
	// tunnel.
	RateLimit *RateLimit
	// CircuitBreaker, when set, answers 503 while too many upstream
	// responses are 5xx (trafficlimits.go). An edge that does not enforce
	// it refuses the tunnel.
	CircuitBreaker *CircuitBreaker

	// Headers are header rewrites of the tunnel's requests and responses
	// the edge applies itself (see HeaderEdits). An edge older than them
	// would drop them, so Serve refuses such a tunnel for the plugin (the
	// edge announces that it applies them).
	Headers HeaderEdits
}

const (
	// MaxUserAgentRules bounds UserAgentAllow and UserAgentDeny together.
	MaxUserAgentRules = 32
	// MaxRegexpBytes bounds one User-Agent expression, in bytes.
	MaxRegexpBytes = 256
	// maxRegexpProgram bounds the compiled size of one expression (RE2
	// instructions), so a short expression with large counted
	// repetitions ("(?:abcdefgh){1000}") cannot cost the edge megabytes.
	maxRegexpProgram = 4096
)

// Empty reports whether r holds no rule.
func (r StaticRules) Empty() bool {
	return len(r.CIDRAllow)+len(r.CIDRDeny)+len(r.UserAgentAllow)+len(r.UserAgentDeny) == 0 &&
		!r.HasTrafficLimits() && r.Headers.Empty()
}

// HasTrafficLimits reports whether r sets a RateLimit or a CircuitBreaker.
func (r StaticRules) HasTrafficLimits() bool {
	return r.RateLimit != nil || r.CircuitBreaker != nil
}

// Validate reports the first problem that makes r unusable by the edge:
// more than MaxCIDRs prefixes or MaxUserAgentRules expressions, a prefix
// that does not parse, or an expression that is not valid RE2 within
// MaxRegexpBytes, or header edits that fail HeaderEdits.Validate. The
// edge refuses a tunnel whose rules fail it.
func (r StaticRules) Validate() error {
	if err := r.Headers.Validate(); err != nil {
		return err
	}
	if n := len(r.CIDRAllow) + len(r.CIDRDeny); n > MaxCIDRs {
		return fmt.Errorf("sdk: static rules: %d CIDR prefixes, at most %d", n, MaxCIDRs)
	}
	for _, list := range [][]string{r.CIDRAllow, r.CIDRDeny} {
		for _, c := range list {
			if _, err := netip.ParsePrefix(c); err != nil {
				return fmt.Errorf("sdk: static rules: %w", err)
			}
		}
	}
	if n := len(r.UserAgentAllow) + len(r.UserAgentDeny); n > MaxUserAgentRules {
		return fmt.Errorf("sdk: static rules: %d user-agent expressions, at most %d", n, MaxUserAgentRules)
	}
	for _, list := range [][]string{r.UserAgentAllow, r.UserAgentDeny} {
		for _, expr := range list {
			if _, err := CompileRuleRegexp(expr); err != nil {
				return fmt.Errorf("sdk: static rules: user-agent expression %q: %w", expr, err)
			}
		}
	}
	if l := r.RateLimit; l != nil {
		if err := l.Validate(); err != nil {
			return err
		}
	}
	if b := r.CircuitBreaker; b != nil {
		if err := b.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// CompileRuleRegexp compiles one User-Agent expression of StaticRules the
// way the edge does: RE2 syntax (regexp), valid UTF-8, at most
// MaxRegexpBytes long and of bounded compiled size.
func CompileRuleRegexp(expr string) (*regexp.Regexp, error) {
	if len(expr) > MaxRegexpBytes {
		return nil, fmt.Errorf("%d bytes, at most %d", len(expr), MaxRegexpBytes)
	}
	if !utf8.ValidString(expr) {
		return nil, fmt.Errorf("not valid UTF-8")
	}
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil, err
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return nil, err
	}
	if len(prog.Inst) > maxRegexpProgram {
		return nil, fmt.Errorf("too complex (%d instructions, at most %d)", len(prog.Inst), maxRegexpProgram)
	}
	return regexp.Compile(expr)
}

// ParseUserAgentRegexp checks a --ua-filter-allow/--ua-filter-deny style
// value with CompileRuleRegexp. Errors are UserErrors naming the flag.
func ParseUserAgentRegexp(flag, expr string) (*regexp.Regexp, error) {
	if len(expr) > MaxRegexpBytes {
		return nil, UserErrorf("--%s is %d bytes long; a User-Agent expression may be at most %d", flag, len(expr), MaxRegexpBytes)
	}
	re, err := CompileRuleRegexp(expr)
	if err != nil {
		return nil, UserErrorf("--%s %q is not a valid RE2 regular expression: %v", flag, expr, err)
	}
	return re, nil
}
