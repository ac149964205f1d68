package pluginhost

import (
	"fmt"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"sync/atomic"

	"github.com/sshgress/sshgress/core/relay"
	"github.com/sshgress/sshgress/sdk"
)

// requestRules are one plugin's static rules for an http tunnel
// (sdk.StaticRules), compiled once when the tunnel opens and enforced by
// Chain.Check before any plugin is asked: no RPC per request. CIDR rules
// use core/relay's engine, the one tcp and tls bindings use.
type requestRules struct {
	plugin  string
	cidr    relay.Rules
	uaAllow []*regexp.Regexp
	uaDeny  []*regexp.Regexp
	// told marks the rules whose refusal the owner has been told of: one
	// per CIDR deny prefix, then "outside every allow prefix", one per
	// User-Agent deny expression, then "matches no allow expression". So
	// the owner's session gets at most one line per rule.
	told []atomic.Bool
	// rate and breaker are the traffic limits (limits.go); nil if unset.
	rate    *rateTable
	breaker *breaker
}

// compileRules validates and compiles a plugin's rules; nil for none.
func compileRules(plugin string, r *sdk.StaticRules) (*requestRules, error) {
	if r == nil || r.Empty() {
		return nil, nil
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	cidr, err := relay.CIDRRules(r.CIDRAllow, r.CIDRDeny)
	if err != nil {
		return nil, err
	}
	rr := &requestRules{plugin: plugin, cidr: cidr}
	for _, expr := range r.UserAgentAllow {
		re, err := sdk.CompileRuleRegexp(expr)
		if err != nil {
			return nil, err
		}
		rr.uaAllow = append(rr.uaAllow, re)
	}
	for _, expr := range r.UserAgentDeny {
		re, err := sdk.CompileRuleRegexp(expr)
		if err != nil {
			return nil, err
		}
		rr.uaDeny = append(rr.uaDeny, re)
	}
	rr.told = make([]atomic.Bool, len(cidr.Deny)+1+len(rr.uaDeny)+1)
	if r.RateLimit != nil {
		rr.rate = newRateTable(plugin, *r.RateLimit)
	}
	if r.CircuitBreaker != nil {
		rr.breaker = newBreaker(plugin, *r.CircuitBreaker)
	}
	return rr, nil
}

// protection describes the rules for the banner, e.g. "CIDR deny
// 127.0.0.1/32 (ipfilter)".
func (rr *requestRules) protection() []string {
	out := rr.cidr.Protection()
	if n := len(rr.uaAllow); n > 0 {
		out = append(out, "User-Agent allow "+countOf(n, "expression"))
	}
	if n := len(rr.uaDeny); n > 0 {
		out = append(out, "User-Agent deny "+countOf(n, "expression"))
	}
	out = append(out, rr.trafficProtection()...)
	for i := range out {
		out[i] = userText(out[i] + " (" + rr.plugin + ")")
	}
	return out
}

func countOf(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// refuse reports whether the rules refuse a request with headers h from
// addr. why is the sentence for the tunnel's owner the first time a rule
// refuses, and "" afterwards.
func (rr *requestRules) refuse(h http.Header, addr netip.Addr) (refused bool, why string) {
	if !addr.IsValid() && len(rr.cidr.Allow)+len(rr.cidr.Deny) > 0 {
		// No address to compare (never for a TCP visitor): fail closed.
		return true, rr.tell(len(rr.cidr.Deny), addr, "its address is unknown")
	}
	if ok, deny := rr.cidr.Refusal(addr); !ok {
		if deny >= 0 {
			return true, rr.tell(deny, addr, "its address is in the denied range "+rr.cidr.Deny[deny].String())
		}
		return true, rr.tell(len(rr.cidr.Deny), addr, "its address is outside every allowed range")
	}
	if len(rr.uaAllow) == 0 && len(rr.uaDeny) == 0 {
		return false, ""
	}
	agents := h.Values("User-Agent")
	if len(agents) == 0 {
		agents = []string{""}
	}
	base := len(rr.cidr.Deny) + 1
	for _, ua := range agents {
		for i, re := range rr.uaDeny {
			if re.MatchString(ua) {
				return true, rr.tell(base+i, addr, fmt.Sprintf("its User-Agent matches the denied expression %q", re.String()))
			}
		}
	}
	if len(rr.uaAllow) == 0 {
		return false, ""
	}
	for _, ua := range agents {
		if !matchesAny(rr.uaAllow, ua) {
			return true, rr.tell(len(rr.told)-1, addr, "its User-Agent matches no allowed expression")
		}
	}
	return false, ""
}

func matchesAny(res []*regexp.Regexp, s string) bool {
	for _, re := range res {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

// tell returns the owner's line for rule i the first time it refuses.
func (rr *requestRules) tell(i int, addr netip.Addr, reason string) string {
	if rr.told[i].Swap(true) {
		return ""
	}
	return userText(fmt.Sprintf("Refused a visitor from %s with 403: %s (%s rules). Later refusals by this rule show only as 403 request lines.",
		addr.Unmap(), reason, rr.plugin))
}

// forbiddenBody is the body of a refusal by static rules for callers that
// write the Decision as it is; the HTTP edge shows its 403 page instead.
var forbiddenBody = []byte("403 Forbidden\n")

// refusal is the Decision for a request static rules refused.
func refusal(why string) Decision {
	return Decision{
		Respond: true,
		Status:  http.StatusForbidden,
		Header:  http.Header{"Content-Type": {"text/plain; charset=utf-8"}, "Cache-Control": {"no-store"}},
		Body:    forbiddenBody,
		Refused: true,
		Notice:  why,
	}
}
