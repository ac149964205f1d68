package cluster

import (
	"context"
	"maps"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sshgress/sshgress/core/route"
)

// keepLeases keeps the node's lease (and the hold lease) alive. clientv3
// closes a keepalive channel when etcd stays unreachable past the lease's
// deadline; the lease is then re-attached if etcd still has it, or
// replaced by a new one, after which this node's members are written
// again (maintain) or reported lost.
func (r *Registry) keepLeases() {
	defer r.wg.Done()
	var wg sync.WaitGroup
	wg.Go(func() { r.keep(&r.lease, r.cfg.LeaseTTL) })
	if r.cfg.Hold > 0 {
		wg.Go(func() { r.keep(&r.holdLease, r.cfg.Hold) })
	}
	wg.Wait()
}

// keep keeps the lease *id (guarded by r.leaseMu) alive until Close.
func (r *Registry) keep(id *clientv3.LeaseID, ttl time.Duration) {
	for r.ctx.Err() == nil {
		r.leaseMu.Lock()
		lease := *id
		r.leaseMu.Unlock()
		if ch, err := r.cli.KeepAlive(r.ctx, lease); err == nil {
			for range ch {
			}
		}
		if r.ctx.Err() != nil {
			return
		}
		r.cfg.Logger.Warn("cluster: lease keepalive stopped; re-attaching", "node", r.cfg.Node)
		wait := 200 * time.Millisecond
		for r.ctx.Err() == nil {
			ctx, cancel := context.WithTimeout(r.ctx, r.cfg.RequestTimeout)
			ttlResp, err := r.cli.TimeToLive(ctx, lease)
			if err == nil && ttlResp.TTL > 0 {
				cancel()
				break // still there: keep it alive again
			}
			if err == nil {
				// Expired: its keys are gone. A new lease, then every
				// member of this node is written again if still free.
				var g *clientv3.LeaseGrantResponse
				g, err = r.cli.Grant(ctx, seconds(ttl))
				if err == nil {
					r.leaseMu.Lock()
					*id = g.ID
					r.leaseMu.Unlock()
					r.mu.Lock()
					for k := range r.local {
						r.repair[k] = true
					}
					r.mu.Unlock()
					r.wake()
					cancel()
					r.cfg.Logger.Warn("cluster: lease expired during an etcd outage; a new one is granted and the names are claimed again", "node", r.cfg.Node)
					break
				}
			}
			cancel()
			sleep(r.ctx, wait)
			wait = min(2*wait, 2*time.Second)
		}
	}
}

// maintain writes again the members of this node whose keys vanished
// (repair) and deletes the keys of releases that could not reach etcd
// (unbind), every second or when woken, until Close.
func (r *Registry) maintain() {
	defer r.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
		case <-r.kick:
		}
		r.mu.Lock()
		var repair []*localHold
		for k := range r.repair {
			if lh, ok := r.local[k]; ok {
				repair = append(repair, lh)
			} else {
				delete(r.repair, k)
			}
		}
		unbind := maps.Clone(r.unbind)
		r.mu.Unlock()
		for k, owner := range unbind {
			name, _ := nameOfKey(r.namesPrefix, k)
			ctx, cancel := context.WithTimeout(r.ctx, r.cfg.RequestTimeout)
			err := r.deleteMember(ctx, k, name, owner)
			cancel()
			if err == nil {
				r.mu.Lock()
				delete(r.unbind, k)
				r.mu.Unlock()
			}
		}
		var lost []route.Entry
		for _, lh := range repair {
			if e, gone := r.rewrite(lh); gone {
				lost = append(lost, e)
			}
		}
		r.report(r.cfg.OnLost, lost)
	}
}

// rewrite writes lh's key again with the node's current lease, if the
// name's rules still let lh hold it. gone reports that another tunnel
// holds the name now: lh is dropped and its entry returned.
func (r *Registry) rewrite(lh *localHold) (e route.Entry, gone bool) {
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.RequestTimeout)
	defer cancel()
	st, err := r.readName(ctx, lh.claim.Name)
	if err != nil {
		return e, false // etcd still unreachable: the next round tries again
	}
	r.applyRead(lh.claim.Name, st)
	lease := r.currentLease()
	var others []*stored
	create := int64(0)
	for _, s := range st.holders {
		if s.key == lh.key {
			create = s.create
			if s.lease == int64(lease) {
				r.mu.Lock()
				delete(r.repair, lh.key)
				r.mu.Unlock()
				return e, false // already written with the current lease
			}
			continue
		}
		others = append(others, s)
	}
	c := lh.claim
	c.Takeover = false
	st.holders = others
	if _, err := decide(c, st); err != nil {
		r.mu.Lock()
		defer r.mu.Unlock()
		if _, ok := r.local[lh.key]; !ok {
			return e, false // released meanwhile
		}
		delete(r.local, lh.key)
		delete(r.repair, lh.key)
		r.rebuild(c.Name)
		r.cfg.Logger.Warn("cluster: a name of this node went to another tunnel while its lease was lost", "node", r.cfg.Node, "name", c.Name)
		return route.Entry{Name: c.Name, Kind: c.Kind, Owner: c.Owner, Tunnel: c.Tunnel, Member: c.Member}, true
	}
	val, tr, err := r.writeMember(ctx, lh, st, nil)
	if err != nil || !tr.Succeeded {
		return e, false // changed or unreachable: the next round reads again
	}
	rev := tr.Header.Revision
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.local[lh.key]; !ok {
		r.unbind[lh.key] = c.Owner // released while being written: delete it again
		r.wake()
		return e, false
	}
	delete(r.repair, lh.key)
	if create == 0 {
		create = rev // written anew
	}
	if rev > r.watchRev {
		r.applyPut(lh.key, []byte(val), create, rev, int64(lease))
	}
	r.rebuild(c.Name)
	return e, false
}
