// Package route holds the name normaliser and the name registry: which
// tunnel, of which kind, serves a public name (an HTTP host, a TLS SNI name
// or a TCP "host:port") for which owner (Registry, one for the whole edge),
// and which public name an account gets for the remote name its SSH client
// asked for.
//
// Every name that reaches the registry or a policy check goes through
// Normalize first, so routing and auth compare the same strings.
package route

import "github.com/sshgress/sshgress/core/route/dnsname"

// Normalize returns the canonical form of a host name (Host header, SNI,
// remote name, reservation or certificate name): port and one trailing dot
// stripped, lowercased, IDNA to ASCII, validated; IP addresses are
// rejected. It is idempotent and does not allocate when the input is
// already normal. Errors are usererr errors. See dnsname.Normalize.
func Normalize(name string) (string, error) { return dnsname.Normalize(name) }

// IsIP reports whether s is an IP address literal (IPv4, IPv6, or IPv6 in
// brackets).
func IsIP(s string) bool { return dnsname.IsIP(s) }
