package config

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sshgress/sshgress/core/route/dnsname"
)

// Dashboard configures the self-service web dashboard, served over HTTPS
// on a system host under the base domain (Label.Domain), which no tunnel
// may claim.
type Dashboard struct {
	// Enabled serves the dashboard. Default false. It needs the TLS port
	// (https.addr): its session cookie is Secure.
	Enabled bool `koanf:"enabled"`

	// Label is the dashboard host's first label: the dashboard is at
	// https://<label>.<domain>. Default "dashboard".
	Label string `koanf:"label"`

	// SignIn are tunnel flags that choose the sign-in middleware, written
	// as on an http command line, e.g. "--oauth corp
	// --oauth-allow-domain example.com": the dashboard host's sign-in runs
	// through that plugin exactly as such a tunnel's requests do, and its
	// verified email is mapped to an account with Members. Default "":
	// one-time links (`ssh … login`) only.
	SignIn string `koanf:"sign_in"`

	// Members map verified emails to accounts, each "email=account"
	// (e.g. "ann@example.com=ann"). Default none. An email not listed
	// cannot sign in through SignIn.
	Members []string `koanf:"members"`

	// Operators are the account names that see every account and tunnel
	// and create invites on the dashboard. Default none.
	Operators []string `koanf:"operators"`

	// SessionTTL is how long a dashboard session lasts. Default 12h.
	SessionTTL time.Duration `koanf:"session_ttl"`

	// LinkTTL is how long a one-time sign-in link stays valid (it works
	// once). Default 5m.
	LinkTTL time.Duration `koanf:"link_ttl"`
}

func dashboardDefaults() Dashboard {
	return Dashboard{Label: "dashboard", SessionTTL: 12 * time.Hour, LinkTTL: 5 * time.Minute}
}

// MemberAccounts returns Members as email (lowercase) -> account. Load has
// validated them.
func (d Dashboard) MemberAccounts() map[string]string {
	out := make(map[string]string, len(d.Members))
	for _, m := range d.Members {
		email, account, _ := strings.Cut(m, "=")
		out[strings.ToLower(strings.TrimSpace(email))] = strings.TrimSpace(account)
	}
	return out
}

// validateDashboard checks the dashboard section.
func (c *Config) validateDashboard(v *validator) {
	d := &c.Dashboard
	d.Label = strings.ToLower(d.Label)
	if n, err := normaliseDNSName(d.Label, false); err != nil {
		v.add("dashboard.label", err)
	} else if strings.Contains(n, ".") {
		v.add("dashboard.label", fmt.Errorf("%s: want one label (the dashboard is LABEL.<domain>), without dots", dnsname.Quote(d.Label)))
	} else {
		d.Label = n
	}
	v.positive("dashboard.session_ttl", d.SessionTTL)
	v.positive("dashboard.link_ttl", d.LinkTTL)
	if d.LinkTTL > time.Hour {
		v.add("dashboard.link_ttl", fmt.Errorf("%s: a sign-in link lives at most 1h", d.LinkTTL))
	}
	for _, m := range d.Members {
		email, account, ok := strings.Cut(m, "=")
		email, account = strings.TrimSpace(email), strings.TrimSpace(account)
		if !ok || account == "" || !strings.Contains(email, "@") || strings.ContainsAny(email, " \t") {
			v.add("dashboard.members", fmt.Errorf("%q: want \"email=account\", e.g. \"ann@example.com=ann\"", m))
		}
	}
	if d.Enabled && c.HTTPS.Addr == "" {
		v.add("dashboard.enabled", errors.New("the dashboard needs the TLS port (https.addr): it is served over HTTPS only"))
	}
}
