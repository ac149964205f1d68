package command

import (
	"testing"

	"github.com/sshgress/sshgress/sdk"
)

// testCommands is a server with http (core and plugin flags), tls and a
// tcp plugin that is known but disabled.
func testCommands() []Command {
	return []Command{
		{
			Name:    "http",
			Summary: "Expose a local HTTP service at a public URL.",
			Ports:   "80, 443 or 0",
			Example: "ssh -R 443:localhost:3000 v2@{host} http",
			Flags: []Flag{
				{Owner: "basicauth", FlagSpec: sdk.FlagSpec{
					Name: "basic-auth", Type: sdk.FlagString, Repeatable: true, Sensitive: true,
					ValueName: "USER:PASSWORD", Commands: []string{"http"},
					Help: "Ask visitors for this user name and password (HTTP basic auth). The password needs 8 to 128 characters.",
				}},
				{Owner: "oauth", FlagSpec: sdk.FlagSpec{
					Name: "oauth", Type: sdk.FlagString, ValueName: "PROVIDER", Commands: []string{"http"},
					Help: "Make visitors sign in with this OAuth provider first: google, github, microsoft or gitlab.",
				}},
				{Owner: "oauth", FlagSpec: sdk.FlagSpec{
					Name: "oauth-allow-email", Type: sdk.FlagString, Repeatable: true, ValueName: "EMAIL", Commands: []string{"http"},
					Help: "Let in only visitors whose OAuth email address is this one.",
				}},
				{Owner: "oauth", FlagSpec: sdk.FlagSpec{
					Name: "oauth-client-secret", Type: sdk.FlagString, Sensitive: true, ValueName: "SECRET", Commands: []string{"http"},
					Help: "Use your own OAuth application's client secret.",
				}},
				{FlagSpec: sdk.FlagSpec{
					Name: "compression", Type: sdk.FlagBool, Commands: []string{"http"},
					Help: "Compress responses with gzip when the visitor accepts it.",
				}},
				{FlagSpec: sdk.FlagSpec{
					Name: "circuit-breaker", Type: sdk.FlagInt, ValueName: "PERCENT", Commands: []string{"http"},
					Help: "Reject requests while more than this percentage of responses are 5xx errors.",
				}},
				{Owner: "vault", FlagSpec: sdk.FlagSpec{
					Name: "pin", Type: sdk.FlagInt, Sensitive: true, Commands: []string{"http"},
					Help: "A secret number.",
				}},
				{Owner: "vault", FlagSpec: sdk.FlagSpec{
					Name: "hidden", Type: sdk.FlagBool, Sensitive: true, Commands: []string{"http"},
					Help: "A secret switch.",
				}},
				{FlagSpec: sdk.FlagSpec{
					Name: "cidr-allow", Type: sdk.FlagString, Repeatable: true, ValueName: "CIDR",
					Help: "Accept visitors only from these source addresses, e.g. 203.0.113.0/24.",
				}},
			},
		},
		{
			Name:    "tls",
			Summary: "Expose a local TLS service by SNI name, without decrypting it.",
			Ports:   "443 or 0",
			Example: "ssh -R 443:localhost:8443 v2@{host} tls",
			Flags: []Flag{
				{FlagSpec: sdk.FlagSpec{
					Name: "cidr-allow", Type: sdk.FlagString, Repeatable: true, ValueName: "CIDR",
					Help: "Accept visitors only from these source addresses, e.g. 203.0.113.0/24.",
				}},
				// Help that says "repeatable" itself, as sdk.ConnectionFlags'
				// does: the help text must not say it twice.
				{FlagSpec: sdk.FlagSpec{
					Name: "cidr-deny", Type: sdk.FlagString, Repeatable: true, ValueName: "CIDR",
					Help: "Refuse visitors from this IP range (repeatable); deny wins over allow.",
				}},
				{Owner: "tlsx", FlagSpec: sdk.FlagSpec{
					Name: "sni-alias", Type: sdk.FlagString, Repeatable: true, ValueName: "NAME", Commands: []string{"tls"},
					Help: "Also answer for this name; repeatable.",
				}},
				{Owner: "tlsx", FlagSpec: sdk.FlagSpec{
					Name: "proxy-proto", Type: sdk.FlagInt, ValueName: "1|2", Commands: []string{"tls"},
					Help: "Send a PROXY protocol header of this version to the local service.",
				}},
			},
		},
	}
}

func testOptions() Options {
	return Options{
		Host:          "localhost -p 2222",
		Domain:        "localhost",
		Disabled:      map[string]string{"tcp": "tcp"},
		DisabledFlags: map[string]string{"oidc": "oidc", "verify-webhook": "webhooks"},
	}
}

func testSet(t testing.TB) *Set {
	t.Helper()
	s, err := NewSet(testOptions(), testCommands()...)
	if err != nil {
		t.Fatalf("NewSet: %v", err)
	}
	return s
}
