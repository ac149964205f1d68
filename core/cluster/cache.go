package cluster

import (
	"context"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sshgress/sshgress/core/route"
)

// The watch cache: every node keeps all member keys in memory (keys,
// byName) from a list of the names directory and a watch from the list's
// revision, and answers Lookup from views built from them. Claims and
// releases of this node apply their own writes at once (so a claim is
// visible on its node when Claim returns); the watch then delivers the
// same revisions, which are ignored as already known (mod revisions for
// puts, tombs for deletes).

// parse decodes a member key read from etcd, or returns nil (logged) for
// one that is not a valid member.
func (r *Registry) parse(key string, val []byte, create, mod, lease int64) *stored {
	name, ok := nameOfKey(r.namesPrefix, key)
	if !ok {
		return nil
	}
	rec, kind, err := decodeRecord(val)
	if err != nil {
		r.cfg.Logger.Warn("cluster: ignoring an invalid name key", "key", truncate(key), "err", err)
		return nil
	}
	return &stored{key: key, name: name, rec: rec, kind: kind, create: create, mod: mod, lease: lease}
}

// truncate bounds a key quoted in a log line.
func truncate(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// applyPut records a member key at revision mod, unless the cache already
// knows a later state of it. r.mu is held. It returns the name changed.
func (r *Registry) applyPut(key string, val []byte, create, mod, lease int64) (string, bool) {
	if old, ok := r.keys[key]; ok && old.mod >= mod {
		return "", false
	}
	if t, ok := r.tombs[key]; ok && t >= mod {
		return "", false
	}
	s := r.parse(key, val, create, mod, lease)
	if s == nil {
		return "", false
	}
	if _, ok := r.keys[key]; !ok && len(r.keys) >= r.cfg.MaxKeys {
		r.cfg.Logger.Warn("cluster: name keys past the limit ignored", "max_keys", r.cfg.MaxKeys)
		return "", false
	}
	r.keys[key] = s
	ks := r.byName[s.name]
	if ks == nil {
		ks = map[string]*stored{}
		r.byName[s.name] = ks
	}
	ks[key] = s
	return s.name, true
}

// applyDelete forgets a member key deleted at revision rev, unless the
// cache knows a later put of it. r.mu is held. It returns the name changed.
func (r *Registry) applyDelete(key string, rev int64) (string, bool) {
	s, ok := r.keys[key]
	if !ok || s.mod >= rev {
		return "", false
	}
	delete(r.keys, key)
	if ks := r.byName[s.name]; ks != nil {
		delete(ks, key)
		if len(ks) == 0 {
			delete(r.byName, s.name)
		}
	}
	return s.name, true
}

// rebuild makes name's view from its member keys. r.mu is held. A member
// key of this node that no local member holds (being released, or written
// by an earlier run of the node) is left out.
func (r *Registry) rebuild(name string) {
	ks := r.byName[name]
	list := make([]*stored, 0, len(ks))
	for _, s := range ks {
		list = append(list, s)
	}
	sortStored(list)
	v := &view{}
	for _, s := range list {
		if v.kind == 0 {
			v.kind, v.owner = s.kind, s.rec.Owner
		}
		if s.kind != v.kind || s.rec.Owner != v.owner {
			continue // claims never mix holders; a hand-written key might
		}
		e := r.entryOf(s)
		if e.Member == nil {
			continue
		}
		v.members = append(v.members, e.Member)
		v.entries = append(v.entries, e)
	}
	if len(v.members) == 0 {
		delete(r.views, name)
		return
	}
	r.views[name] = v
}

// entryOf is the route.Entry of a member key: its Member is the local
// member for a key of this node (nil if none holds it), a Remote
// otherwise. r.mu is held.
func (r *Registry) entryOf(s *stored) route.Entry {
	e := route.Entry{Name: s.name, Kind: s.kind, Owner: s.rec.Owner, Tunnel: s.rec.Tunnel}
	if lh, ok := r.local[s.key]; ok {
		e.Member = lh.claim.Member
	} else if s.rec.Node != r.cfg.Node {
		e.Member = Remote{Node: s.rec.Node, Tunnel: s.rec.Tunnel}
	}
	return e
}

// list reads the whole names directory and replaces the cache with it,
// keeping what this node wrote after the list's revision. It returns the
// revision to watch from.
func (r *Registry) list(ctx context.Context) (int64, error) {
	resp, err := r.cli.Get(ctx, r.namesPrefix, clientv3.WithPrefix(), clientv3.WithLimit(int64(r.cfg.MaxKeys)))
	if err != nil {
		return 0, err
	}
	if resp.More {
		r.cfg.Logger.Warn("cluster: more name keys than max_keys; the rest are ignored", "max_keys", r.cfg.MaxKeys)
	}
	rev := resp.Header.Revision
	r.mu.Lock()
	r.watchRev = rev
	old := r.keys
	r.keys, r.byName = map[string]*stored{}, map[string]map[string]*stored{}
	for _, kv := range resp.Kvs {
		r.applyPut(string(kv.Key), kv.Value, kv.CreateRevision, kv.ModRevision, kv.Lease)
	}
	for k, s := range old { // this node's own writes the list predates
		if s.mod > rev {
			if _, ok := r.keys[k]; !ok {
				r.putStored(s)
			}
		}
	}
	for k, t := range r.tombs {
		if t > rev {
			r.applyDelete(k, t)
		} else {
			delete(r.tombs, k)
		}
	}
	clear(r.views)
	for name := range r.byName {
		r.rebuild(name)
	}
	var gone []string
	takenOver := map[string]bool{}
	for k, lh := range r.local {
		if _, ok := r.keys[k]; !ok {
			gone = append(gone, k)
			// Which write removed it is not known after a list: a name
			// now held by the same owner, unpooled, was taken over.
			if v, held := r.views[lh.claim.Name]; held && v.owner == lh.claim.Owner && !lh.claim.Pool {
				takenOver[k] = true
			}
		}
	}
	taken := r.lostLocked(gone, takenOver)
	r.mu.Unlock()
	r.report(r.cfg.OnTakenOver, taken)
	return rev, nil
}

// applyRead brings name's keys in the cache up to a fresh read of them
// (a claim's), when the read is newer than what the watch delivered: a
// node's next request for the name then sees what its claim saw. Keys of
// this node are left to the watch, which tells whether they were taken
// over or lost.
func (r *Registry) applyRead(name string, st nameState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if st.rev <= r.watchRev || !st.complete {
		return
	}
	seen := map[string]bool{}
	for _, s := range st.holders {
		seen[s.key] = true
		if old, ok := r.keys[s.key]; ok && old.mod >= s.mod || r.tombs[s.key] >= s.mod {
			continue
		}
		if _, ok := r.keys[s.key]; !ok && len(r.keys) >= r.cfg.MaxKeys {
			continue
		}
		r.putStored(s)
	}
	for k, s := range r.byName[name] {
		if !seen[k] && s.mod <= st.rev && r.local[k] == nil {
			r.applyDelete(k, st.rev)
			r.tombs[k] = st.rev
		}
	}
	r.rebuild(name)
}

// putStored puts a parsed member back into the maps. r.mu is held.
func (r *Registry) putStored(s *stored) {
	r.keys[s.key] = s
	ks := r.byName[s.name]
	if ks == nil {
		ks = map[string]*stored{}
		r.byName[s.name] = ks
	}
	ks[s.key] = s
}

// lostLocked handles this node's member keys that vanished without a
// release of this node: one in takenOver was replaced by another node's
// claim (it is dropped and returned, for OnTakenOver); any other is queued
// to be written again (its lease expired), which reports it to OnLost if
// the name went to another tunnel meanwhile. r.mu is held.
func (r *Registry) lostLocked(keys []string, takenOver map[string]bool) []route.Entry {
	var taken []route.Entry
	for _, k := range keys {
		lh, ok := r.local[k]
		if !ok {
			continue
		}
		if takenOver[k] {
			taken = append(taken, route.Entry{Name: lh.claim.Name, Kind: lh.claim.Kind, Owner: lh.claim.Owner, Tunnel: lh.claim.Tunnel, Member: lh.claim.Member})
			delete(r.local, k)
			delete(r.repair, k)
			continue
		}
		r.repair[k] = true
	}
	if len(keys) > 0 {
		r.wake()
	}
	return taken
}

// report calls a callback with entries, if both are there.
func (r *Registry) report(fn func([]route.Entry), entries []route.Entry) {
	if fn != nil && len(entries) > 0 {
		fn(entries)
	}
}

// watchLoop applies the watch's events from rev on; it lists again after a
// compaction or a broken watch.
func (r *Registry) watchLoop(rev int64) {
	defer r.wg.Done()
	for r.ctx.Err() == nil {
		wctx, cancel := context.WithCancel(r.ctx)
		wch := r.cli.Watch(wctx, r.namesPrefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
		for resp := range wch {
			if resp.CompactRevision != 0 || resp.Err() != nil {
				break
			}
			if last := r.applyWatch(resp.Events); last > rev {
				rev = last
			}
		}
		cancel()
		for r.ctx.Err() == nil {
			lctx, lcancel := context.WithTimeout(r.ctx, r.cfg.RequestTimeout)
			n, err := r.list(lctx)
			lcancel()
			if err == nil {
				rev = n
				break
			}
			r.cfg.Logger.Warn("cluster: etcd unreachable; serving names from memory", "node", r.cfg.Node, "err", err)
			sleep(r.ctx, time.Second)
		}
	}
}

// applyWatch applies one watch response's events (one or more
// transactions) and reports this node's members another node took over.
// It returns the last event's revision.
func (r *Registry) applyWatch(events []*clientv3.Event) int64 {
	var last int64
	var gone []string
	r.mu.Lock()
	changed := map[string]bool{}
	puts := map[string]int64{}    // name → revision of a put of it in this response
	deleted := map[string]int64{} // this node's member key → revision it was deleted at
	for _, ev := range events {
		kv := ev.Kv
		key := string(kv.Key)
		last = max(last, kv.ModRevision)
		var name string
		var ok bool
		if ev.Type == mvccpb.DELETE {
			name, ok = r.applyDelete(key, kv.ModRevision)
			if _, mine := r.local[key]; mine && ok {
				gone = append(gone, key)
				deleted[key] = kv.ModRevision
			}
		} else {
			name, ok = r.applyPut(key, kv.Value, kv.CreateRevision, kv.ModRevision, kv.Lease)
			if n, isName := nameOfKey(r.namesPrefix, key); isName {
				puts[n] = kv.ModRevision
			}
		}
		if ok {
			changed[name] = true
		}
	}
	for name := range changed {
		r.rebuild(name)
	}
	r.watchRev = max(r.watchRev, last)
	for k, t := range r.tombs {
		if t <= r.watchRev {
			delete(r.tombs, k)
		}
	}
	// A takeover deletes the replaced keys and puts the new one in one
	// transaction: a put of the same name at the delete's revision.
	takenOver := map[string]bool{}
	for _, k := range gone {
		if lh := r.local[k]; lh != nil && puts[lh.claim.Name] == deleted[k] {
			takenOver[k] = true
		}
	}
	taken := r.lostLocked(gone, takenOver)
	r.mu.Unlock()
	r.report(r.cfg.OnTakenOver, taken)
	return last
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
