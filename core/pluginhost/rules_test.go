package pluginhost

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/sshgress/sshgress/sdk"
)

// TestRequestRules covers the static rules' matching: CIDR through
// core/relay's engine, User-Agent deny and allow, deny winning, and one
// owner line per rule.
func TestRequestRules(t *testing.T) {
	rr, err := compileRules("filter", &sdk.StaticRules{
		CIDRAllow:      []string{"10.0.0.0/8", "2001:db8::/32"},
		CIDRDeny:       []string{"10.0.0.7/32"},
		UserAgentAllow: []string{"^Mozilla/", "^curl/"},
		UserAgentDeny:  []string{"(?i)bot"},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		addr   string
		agents []string
		want   string // "" admits; else a piece of the first refusal's line
	}{
		{"allowed browser", "10.1.2.3", []string{"Mozilla/5.0"}, ""},
		{"allowed v6 curl", "2001:db8::5", []string{"curl/8.5.0"}, ""},
		{"v4-mapped allowed", "::ffff:10.1.2.3", []string{"Mozilla/5.0"}, ""},
		{"denied address wins over allow", "10.0.0.7", []string{"Mozilla/5.0"}, "in the denied range 10.0.0.7/32"},
		{"outside allow", "192.0.2.1", []string{"Mozilla/5.0"}, "outside every allowed range"},
		{"denied agent wins over allow", "10.1.2.3", []string{"Mozilla/5.0 (compatible; Googlebot)"}, `matches the denied expression "(?i)bot"`},
		{"agent matching no allow", "10.1.2.3", []string{"Wget/1.21"}, "matches no allowed expression"},
		{"no agent with allow rules", "10.1.2.3", nil, "matches no allowed expression"},
		{"every agent must be allowed", "10.1.2.3", []string{"Mozilla/5.0", "Wget/1.21"}, "matches no allowed expression"},
		{"any agent may be denied", "10.1.2.3", []string{"Mozilla/5.0", "SomeBot"}, "denied expression"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string][]string{}
			if tc.agents != nil {
				h["User-Agent"] = tc.agents
			}
			refused, why := rr.refuse(h, netip.MustParseAddr(tc.addr))
			if tc.want == "" {
				if refused {
					t.Fatalf("refused (%q), want admitted", why)
				}
				return
			}
			if !refused {
				t.Fatal("admitted, want refused")
			}
			if why != "" && (!strings.Contains(why, tc.want) || !strings.Contains(why, "(filter rules)")) {
				t.Errorf("line %q lacks %q", why, tc.want)
			}
		})
	}
	// Every rule above has refused once: no further line, however often.
	for range 3 {
		if refused, why := rr.refuse(map[string][]string{"User-Agent": {"Mozilla/5.0"}}, netip.MustParseAddr("10.0.0.7")); !refused || why != "" {
			t.Errorf("repeat refusal = %v, %q; want refused without a line", refused, why)
		}
	}
	if refused, _ := rr.refuse(nil, netip.Addr{}); !refused {
		t.Error("a visitor without an address was admitted by CIDR rules")
	}
	if got, want := strings.Join(rr.protection(), "; "), "CIDR allow 10.0.0.0/8, 2001:db8::/32 (filter); CIDR deny 10.0.0.7/32 (filter); User-Agent allow 2 expressions (filter); User-Agent deny 1 expression (filter)"; got != want {
		t.Errorf("protection %q, want %q", got, want)
	}
}

func TestRequestRulesDenyOnly(t *testing.T) {
	rr, err := compileRules("filter", &sdk.StaticRules{UserAgentDeny: []string{"curl"}})
	if err != nil {
		t.Fatal(err)
	}
	for ua, want := range map[string]bool{"curl/8.5.0": true, "Mozilla/5.0": false, "": false} {
		if refused, _ := rr.refuse(map[string][]string{"User-Agent": {ua}}, netip.MustParseAddr("192.0.2.1")); refused != want {
			t.Errorf("User-Agent %q: refused %v, want %v", ua, refused, want)
		}
	}
}

// TestStaticRulesNoRPC runs the ipfilter plugin as a real process: its
// rules are enforced by the chain with no Check call at all (the plugin
// has none), and with basicauth in the same chain a refused visitor never
// reaches basicauth either, while an admitted one does.
func TestStaticRulesNoRPC(t *testing.T) {
	h, _ := startHost(t, []Spec{{Name: "basicauth"}, {Name: "ipfilter"}}, Options{})
	only, err := h.Open(context.Background(), httpTunnel("t1", map[string]map[string][]string{
		"ipfilter": {"cidr-deny": {"192.0.2.0/24"}, "ua-filter-deny": {"(?i)curl"}},
	}), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer only.Close()
	if only.Empty() {
		t.Fatal("Empty() = true for a chain with static rules")
	}
	other := netip.MustParseAddrPort("198.51.100.4:5000")
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			from, ua, want := client, "Mozilla/5.0", true // client is in 192.0.2.0/24
			switch i % 3 {
			case 1:
				from, want = other, false
			case 2:
				from, ua = other, "curl/8.5.0"
			}
			r := get("")
			r.Header.Set("User-Agent", ua)
			d, err := only.Check(r, from, nil)
			if err != nil {
				t.Errorf("Check: %v", err)
				return
			}
			if d.Refused != want || d.Respond != want || (want && d.Status != 403) {
				t.Errorf("request %d from %v with %q: decision %+v, want refused=%v", i, from, ua, d, want)
			}
		})
	}
	wg.Wait()
	if got := h.Calls(); got != 0 {
		t.Fatalf("Calls = %d after 50 requests with static rules only, want 0", got)
	}

	both, err := h.Open(context.Background(), httpTunnel("t2", map[string]map[string][]string{
		"ipfilter":  {"cidr-allow": {"198.51.100.0/24"}},
		"basicauth": {"basic-auth": {"ann:correct-horse"}},
	}), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer both.Close()
	if d, err := both.Check(get(basic("ann", "correct-horse")), client, nil); err != nil || !d.Refused {
		t.Fatalf("outside the allowed range: %+v, %v; want refused by the rules", d, err)
	}
	if got := h.Calls(); got != 0 {
		t.Errorf("Calls = %d after a refused visitor, want 0: basicauth was asked", got)
	}
	if d, err := both.Check(get(basic("ann", "correct-horse")), other, nil); err != nil || d.Respond || d.Identity == nil {
		t.Fatalf("inside the allowed range with credentials: %+v, %v; want continue as ann", d, err)
	}
	if got := h.Calls(); got != 1 {
		t.Errorf("Calls = %d, want 1 (basicauth asked once)", got)
	}
	if got := strings.Join(both.Protection(), "; "); !strings.Contains(got, "basic auth (1 user)") || !strings.Contains(got, "CIDR allow 198.51.100.0/24 (ipfilter)") {
		t.Errorf("protection %q lacks basic auth and the CIDR rule", got)
	}
}

// TestStaticRulesOnlyForHTTP: rules a plugin returns for a tcp tunnel
// would go unenforced (no request to check), so the tunnel is refused.
func TestStaticRulesOnlyForHTTP(t *testing.T) {
	h, _ := startHost(t, []Spec{{Name: "ipfilter"}}, Options{})
	tun := httpTunnel("t1", map[string]map[string][]string{"ipfilter": {"cidr-deny": {"192.0.2.0/24"}}})
	tun.Command = "tcp"
	_, err := h.Open(context.Background(), tun, nil)
	if err == nil || !strings.Contains(err.Error(), "sets request rules, which only http endpoints take") {
		t.Fatalf("Open(tcp) = %v, want a refusal", err)
	}
}
