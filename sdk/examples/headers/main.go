// Command headers is an example third-party sshgress plugin, built on the
// sdk package alone. It adds and removes request headers before requests go
// upstream:
//
//	ssh -R 443:localhost:3000 v2@edge http \
//	    --request-header-add 'X-Env: staging' --request-header-remove Cookie
//
// Build it, record its checksum and name it in the edge's config:
//
//	go build -o /usr/local/lib/sshgress/headers ./sdk/examples/headers
//	sha256sum /usr/local/lib/sshgress/headers
//
//	plugins:
//	  headers:
//	    path: /usr/local/lib/sshgress/headers
//	    sha256: "<the hex digest sha256sum printed>"
//	    config:
//	      protected: [X-Sshgress-User]
//
// See docs/plugins.md for the whole contract.
package main

import "github.com/sshgress/sshgress/sdk"

func main() {
	sdk.Serve(newPlugin())
}
