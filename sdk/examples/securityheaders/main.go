// Command securityheaders is an example third-party sshgress plugin, built
// on the sdk package alone, that shows the response phase of the middleware
// contract (sdk.ResponseReviewer). With --security-headers it adds
// Strict-Transport-Security, X-Content-Type-Options and a
// Content-Security-Policy to the HTML pages of a tunnel, and to nothing
// else:
//
//	ssh -R 443:localhost:3000 v2@edge http --security-headers
//
// It sees each response head (never a body) and answers header edits with
// a cache hint that depends on Content-Type, so the edge calls it once per
// kind of response, not once per response.
//
// Build it, record its checksum and name it in the edge's config:
//
//	go build -o /usr/local/lib/sshgress/securityheaders ./sdk/examples/securityheaders
//	sha256sum /usr/local/lib/sshgress/securityheaders
//
//	plugins:
//	  securityheaders:
//	    path: /usr/local/lib/sshgress/securityheaders
//	    sha256: "<the hex digest sha256sum printed>"
//	    config:
//	      content_security_policy: "default-src 'self'"
//
// See docs/plugins.md for the whole contract.
package main

import "github.com/sshgress/sshgress/sdk"

func main() {
	sdk.Serve(newPlugin())
}
