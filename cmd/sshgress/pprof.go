//go:build pprof

package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"
)

// Built with -tags pprof (the benchmark harness does: go run ./bench
// -cpuprofile FILE), the edge serves net/http/pprof on the loopback
// address in EDGEPROF_PPROF_ADDR. Release builds have none of this: the
// endpoint exposes the process's internals. The variable is outside the
// SSHGRESS_ prefix, so config ignores it, and plugins (started with an
// empty environment) never see it.
const pprofAddrEnv = "EDGEPROF_PPROF_ADDR"

func init() {
	startDebug = func() (func(), error) {
		addr := os.Getenv(pprofAddrEnv)
		if addr == "" {
			return func() {}, nil
		}
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", pprofAddrEnv, err)
		}
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			return nil, fmt.Errorf("%s: %q is not a loopback address", pprofAddrEnv, addr)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("pprof listener: %w", err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(ln)
		return func() { srv.Close() }, nil
	}
}
