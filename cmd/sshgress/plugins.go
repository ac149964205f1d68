package main

import (
	"fmt"
	"io"

	"github.com/sshgress/sshgress/plugins/basicauth"
	"github.com/sshgress/sshgress/plugins/headers"
	"github.com/sshgress/sshgress/plugins/ipfilter"
	"github.com/sshgress/sshgress/plugins/oauth"
	"github.com/sshgress/sshgress/plugins/ratelimit"
	"github.com/sshgress/sshgress/plugins/tcp"
	tlsplugin "github.com/sshgress/sshgress/plugins/tls"
	"github.com/sshgress/sshgress/plugins/verifywebhook"
	"github.com/sshgress/sshgress/sdk"
)

// bundled lists the plugins compiled into this binary. The edge starts each
// enabled one as a child process (`sshgress plugin NAME`), so one build is
// a complete edge while every plugin still runs isolated.
var bundled = map[string]func() sdk.Plugin{
	basicauth.Name:     func() sdk.Plugin { return basicauth.New() },
	headers.Name:       func() sdk.Plugin { return headers.New() },
	ipfilter.Name:      func() sdk.Plugin { return ipfilter.New() },
	oauth.Name:         func() sdk.Plugin { return oauth.New() },
	ratelimit.Name:     func() sdk.Plugin { return ratelimit.New() },
	tcp.Name:           func() sdk.Plugin { return tcp.New() },
	tlsplugin.Name:     func() sdk.Plugin { return tlsplugin.New() },
	verifywebhook.Name: func() sdk.Plugin { return verifywebhook.New() },
}

// runPlugin serves a bundled plugin over go-plugin. Stdout belongs to the
// handshake: nothing else may write to it.
func runPlugin(name string, stderr io.Writer) int {
	newPlugin, ok := bundled[name]
	if !ok {
		fmt.Fprintf(stderr, "sshgress plugin: no bundled plugin %q\n", name)
		return 2
	}
	sdk.Serve(newPlugin())
	return 0
}

// bundledManifests describes every bundled plugin, enabled or not, so the
// edge can say which plugin a disabled flag needs.
func bundledManifests() []sdk.Manifest {
	out := make([]sdk.Manifest, 0, len(bundled))
	for _, newPlugin := range bundled {
		out = append(out, newPlugin().Manifest())
	}
	return out
}
