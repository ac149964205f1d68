package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// poolName is the name the pool's members share (poolName.localhost).
const poolName = "benchpool"

// poolTunnel is one name served by poolSize ssh -R tunnels with
// --pooling-enabled on one edge, each to a backend of its own, so each
// member's share of the requests can be counted where they arrive.
type poolTunnel struct {
	target *httpTarget
	backs  []*backend
}

// startPool starts the pool's backends and members on ep and waits until
// the first member hears that the pool is full. The returned pool is to
// be closed even when err is set.
func (e *env) startPool(ctx context.Context, ep *edgeProc) (*poolTunnel, error) {
	p := &poolTunnel{}
	var first *sshClient
	for i := 1; i <= poolSize; i++ {
		b, err := startBackend(0)
		if err != nil {
			return p, err
		}
		p.backs = append(p.backs, b)
		g, err := e.startGressForward(ctx, "ssh-pool-"+strconv.Itoa(i), ep, "", poolName+":80:"+b.httpAddr, "http", "--pooling-enabled")
		if err != nil {
			return p, fmt.Errorf("bench: pool member %d: %w", i, err)
		}
		if first == nil {
			first = g.c
			p.target = &httpTarget{name: tGress, base: fmt.Sprintf("http://127.0.0.1:%d", ep.httpPort), host: g.host, edge: ep.p.pid()}
		} else if g.host != p.target.host {
			return p, fmt.Errorf("bench: pool member %d got %s, want the pool's %s", i, g.host, p.target.host)
		}
	}
	full := "pool of " + strconv.Itoa(poolSize) + " now"
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := first.stdout.wait(wctx, func(l string) bool { return strings.Contains(l, full) }); err != nil {
		return p, fmt.Errorf("bench: the first pool member never printed %q: %w: %s", full, err, first.describe())
	}
	return p, nil
}

// hits returns each member's backend's request count so far.
func (p *poolTunnel) hits() []int64 {
	out := make([]int64, len(p.backs))
	for i, b := range p.backs {
		out[i] = b.hits.Load()
	}
	return out
}

// shares returns each member's percentage of the requests counted
// between before and after (hits readings).
func shares(before, after []int64) ([]float64, error) {
	var total int64
	for i := range after {
		total += after[i] - before[i]
	}
	if total <= 0 {
		return nil, fmt.Errorf("bench: the pool's backends counted no request")
	}
	out := make([]float64, len(after))
	for i := range after {
		out[i] = 100 * float64(after[i]-before[i]) / float64(total)
	}
	return out, nil
}

// close stops the pool's backends (its ssh clients end with the run).
func (p *poolTunnel) close() {
	for _, b := range p.backs {
		b.close()
	}
}
