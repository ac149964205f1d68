package httpedge

import (
	"net"
	"strings"

	"github.com/sshgress/sshgress/core/command"
	"github.com/sshgress/sshgress/core/httpedge/forward"
	"github.com/sshgress/sshgress/core/usererr"
	"github.com/sshgress/sshgress/sdk"
)

// The http command's own flags (not a plugin's).
const (
	// FlagInspect keeps the tunnel's exchanges for the inspector (on
	// unless --inspect=false, as in ngrok's agent).
	FlagInspect = "inspect"
	// FlagVerbose (-v) prints each request's headers, redacted, in the
	// session.
	FlagVerbose = "verbose"
	// FlagCompression makes the edge gzip or brotli-encode compressible
	// responses for visitors that accept it (package compress); off
	// unless given.
	FlagCompression = "compression"
	// FlagUpstreamProtocol is the HTTP version spoken to the owner's
	// service: http1 (the default) or http2 (h2c, or h2 with
	// --upstream-tls).
	FlagUpstreamProtocol = "upstream-protocol"
	// FlagUpstreamTLS makes the edge speak TLS to the owner's service
	// inside the SSH channel (a local https service).
	FlagUpstreamTLS = "upstream-tls"
	// FlagUpstreamTLSVerify, on by default, checks the service's
	// certificate; =false accepts any (a self-signed local service).
	FlagUpstreamTLSVerify = "upstream-tls-verify"
)

// Flags returns the http command's core flags, for its command.Command.
func Flags() []command.Flag {
	return []command.Flag{
		{FlagSpec: sdk.FlagSpec{Name: FlagInspect, Type: sdk.FlagBool, Commands: []string{"http"},
			Help: "Keep the last requests in memory for the private inspector link in the banner, where you can look inside them and replay them; on by default, --inspect=false turns it off."}},
		{FlagSpec: sdk.FlagSpec{Name: FlagVerbose, Type: sdk.FlagBool, Commands: []string{"http"},
			Help: "Also print each request's headers in this session (credentials and cookies redacted)."}, Short: "v"},
		{FlagSpec: sdk.FlagSpec{Name: FlagCompression, Type: sdk.FlagBool, Commands: []string{"http"},
			Help: "Compress text, JSON, JavaScript, XML, SVG and WebAssembly responses with gzip (or brotli) for visitors that accept it, unless your service already did; images, archives, ranges and event streams pass untouched."}},
		{FlagSpec: sdk.FlagSpec{Name: FlagUpstreamProtocol, Type: sdk.FlagString, ValueName: "http1|http2", Commands: []string{"http"},
			Help: "The HTTP version the edge speaks to your service: http1 (default) or http2 (h2c, or h2 with --upstream-tls); WebSocket upgrades still go as HTTP/1.1."}},
		{FlagSpec: sdk.FlagSpec{Name: FlagUpstreamTLS, Type: sdk.FlagBool, Commands: []string{"http"},
			Help: "Your local service speaks https: the edge speaks TLS to it through the tunnel, checking its certificate unless --upstream-tls-verify=false."}},
		{FlagSpec: sdk.FlagSpec{Name: FlagUpstreamTLSVerify, Type: sdk.FlagBool, Commands: []string{"http"},
			Help: "With --upstream-tls, check your service's certificate against the edge's system CAs for the --host-header name (default localhost); --upstream-tls-verify=false accepts a self-signed one."}},
	}
}

// upstreamProtocols are the values of --upstream-protocol.
const (
	protocolHTTP1 = "http1"
	protocolHTTP2 = "http2"
)

// upstreamOptions is how the edge talks to a tunnel's service.
type upstreamOptions struct {
	http2 bool
	tls   *forward.UpstreamTLS // nil: plain
}

// parseUpstream reads the --upstream-* flags, refusing bad values with a
// sentence for the owner.
func parseUpstream(vals map[string][]string) (upstreamOptions, error) {
	var o upstreamOptions
	switch p := lastValue(vals, FlagUpstreamProtocol, protocolHTTP1); p {
	case protocolHTTP1, "http/1.1", "http1.1":
	case protocolHTTP2, "h2", "h2c":
		o.http2 = true
	default:
		return o, usererr.Errorf("--upstream-protocol takes http1 or http2, not %q.", p)
	}
	verify := switchOn(vals, FlagUpstreamTLSVerify, true)
	if !switchOn(vals, FlagUpstreamTLS, false) {
		if len(vals[FlagUpstreamTLSVerify]) > 0 {
			return o, usererr.New("--upstream-tls-verify only applies with --upstream-tls (your service speaks https); add --upstream-tls or leave it out.")
		}
		return o, nil
	}
	o.tls = &forward.UpstreamTLS{Verify: verify}
	return o, nil
}

// lastValue is the last value given for a single-valued flag, or def.
func lastValue(vals map[string][]string, name, def string) string {
	if v := vals[name]; len(v) > 0 {
		return v[len(v)-1]
	}
	return def
}

// switchOn reads a core switch's values: the last one given wins, def
// when it was not given.
func switchOn(vals map[string][]string, name string, def bool) bool {
	v := vals[name]
	if len(v) == 0 {
		return def
	}
	return v[len(v)-1] == "true"
}

// hostName is the host of a Host value, without its port.
func hostName(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return strings.Trim(h, "[]")
	}
	return host
}
