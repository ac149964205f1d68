package cluster

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/sshgress/sshgress/core/route"
	"github.com/sshgress/sshgress/core/usererr"
)

// ErrUnavailable is the cause of the error Claim returns when etcd cannot
// be reached within Config.RequestTimeout. Detect it with errors.Is; the
// error itself is a user error reading "cluster coordination is
// unavailable; try again shortly".
var ErrUnavailable = errors.New("cluster: etcd unavailable")

// unavailableMessage is what the user reads when a claim cannot reach etcd.
const unavailableMessage = "cluster coordination is unavailable; try again shortly"

// maxClaimAttempts bounds the read-compare-write rounds of one claim when
// the name keeps changing under it.
const maxClaimAttempts = 8

// Remote is the Member of a name held by a tunnel on another node, as
// Lookup and Members return it: the edges relay a visitor for it to Node.
type Remote struct {
	// Node is the holding node (its Config.Node).
	Node string
	// Tunnel is the holding tunnel's ID (route.Claim.Tunnel).
	Tunnel string
}

var _ route.Registry = (*Registry)(nil)

// Registry is the route.Registry of a cluster: claims are etcd
// transactions, every node keeps the whole map in memory from a watch,
// and a node's names live on its lease. Safe for concurrent use; Close
// it to stop its goroutines and revoke its lease.
type Registry struct {
	cfg         Config
	cli         *clientv3.Client
	namesPrefix string // Prefix + namesDir
	holdsPrefix string // Prefix + holdsDir
	instance    string // random per Registry, so a restarted node's keys never collide with its last run's
	seq         atomic.Uint64

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
	kick      chan struct{} // wakes the maintenance loop

	leaseMu        sync.Mutex
	lease          clientv3.LeaseID // every member key of this node
	holdLease      clientv3.LeaseID // the hold keys of the names this node holds; 0 when holds are off
	releaseLease   clientv3.LeaseID // hold keys of names released lately
	releaseLeaseAt time.Time

	mu     sync.RWMutex
	keys   map[string]*stored            // member key → what etcd holds
	byName map[string]map[string]*stored // name → its member keys
	views  map[string]*view              // name → what Lookup answers
	tombs  map[string]int64              // member key → revision this node deleted it at, until the watch passes it
	// watchRev is the revision up to which the cache holds every change
	// (the list's, then the watch's last event): a write or read of this
	// node at or below it is already in the cache.
	watchRev int64
	local    map[string]*localHold // member key → this node's member
	repair   map[string]bool       // member keys of this node to write again (lease lost, key gone)
	unbind   map[string]string     // member keys of this node to delete (a release that could not reach etcd) → owner to hold the name for
}

// stored is one member key as etcd holds it.
type stored struct {
	key, name string
	rec       record
	kind      route.Kind
	create    int64 // the key's CreateRevision: a pool's order
	mod       int64
	lease     int64
}

// localHold is a member of this node: the claim that made it.
type localHold struct {
	key   string
	claim route.Claim
}

// view is who holds one name, as Lookup and Members answer it. Its slices
// are never changed once built (copy-on-write, like route.Memory's).
type view struct {
	kind    route.Kind
	owner   string
	members []route.Member
	entries []route.Entry
}

// New connects to etcd, grants the node's lease, lists the names and
// starts the watch, the lease keepalive and the maintenance loop. ctx
// bounds only the start; the registry lives until Close.
func New(ctx context.Context, cfg Config) (*Registry, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            cfg.Endpoints,
		DialTimeout:          cfg.RequestTimeout,
		DialKeepAliveTime:    5 * time.Second,
		DialKeepAliveTimeout: 2 * time.Second,
		Logger:               zap.NewNop(), // the registry logs what matters itself
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			// Reconnect within a second or two of etcd coming back, not
			// gRPC's default of up to two minutes.
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: cfg.RequestTimeout,
		})},
	})
	if err != nil {
		return nil, err
	}
	var inst [6]byte
	rand.Read(inst[:])
	rctx, cancel := context.WithCancel(context.Background())
	r := &Registry{
		cfg: cfg, cli: cli,
		namesPrefix: cfg.Prefix + namesDir, holdsPrefix: cfg.Prefix + holdsDir,
		instance: hex.EncodeToString(inst[:]),
		ctx:      rctx, cancel: cancel, kick: make(chan struct{}, 1),
		keys: map[string]*stored{}, byName: map[string]map[string]*stored{}, views: map[string]*view{},
		tombs: map[string]int64{}, local: map[string]*localHold{}, repair: map[string]bool{}, unbind: map[string]string{},
	}
	sctx, scancel := context.WithTimeout(ctx, 2*cfg.RequestTimeout)
	defer scancel()
	fail := func(what string, err error) (*Registry, error) {
		cancel()
		cli.Close()
		return nil, errors.Join(errors.New("cluster: start: "+what), err)
	}
	l, err := cli.Grant(sctx, seconds(cfg.LeaseTTL))
	if err != nil {
		return fail("grant the node's lease", err)
	}
	r.lease = l.ID
	if cfg.Hold > 0 {
		h, err := cli.Grant(sctx, seconds(cfg.Hold))
		if err != nil {
			return fail("grant the hold lease", err)
		}
		r.holdLease = h.ID
	}
	rev, err := r.list(sctx)
	if err != nil {
		return fail("list the names", err)
	}
	r.wg.Add(3)
	go r.watchLoop(rev)
	go r.keepLeases()
	go r.maintain()
	return r, nil
}

// Close stops the registry and revokes the node's lease, so its names are
// free at once; the holds stay, so their owners can claim the names again
// through another node. Idempotent.
func (r *Registry) Close() error {
	r.closeOnce.Do(func() {
		r.cancel()
		r.wg.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.RequestTimeout)
		defer cancel()
		r.leaseMu.Lock()
		lease := r.lease
		r.leaseMu.Unlock()
		if _, err := r.cli.Revoke(ctx, lease); err != nil {
			r.closeErr = errors.Join(errors.New("cluster: close: revoke the node's lease (its names expire with it)"), err)
		}
		r.mu.Lock()
		clear(r.views)
		clear(r.local)
		r.mu.Unlock()
		if err := r.cli.Close(); err != nil && r.closeErr == nil && !errors.Is(err, context.Canceled) {
			r.closeErr = err
		}
	})
	return r.closeErr
}

// Node returns the node name this registry writes into its keys.
func (r *Registry) Node() string { return r.cfg.Node }

// unavailable is the user error for a claim that could not reach etcd.
func (r *Registry) unavailable(ctx context.Context, err error) error {
	if ctx.Err() != nil && r.ctx.Err() == nil {
		r.cfg.Logger.Warn("cluster: etcd unreachable; claim refused", "node", r.cfg.Node, "err", err)
	}
	return usererr.Wrap(errors.Join(ErrUnavailable, err), unavailableMessage)
}

// Claim binds c.Name in etcd; see route.Registry. It fails with a user
// error wrapping ErrUnavailable when etcd cannot be reached within
// Config.RequestTimeout.
func (r *Registry) Claim(ctx context.Context, c route.Claim) ([]route.Entry, error) {
	switch {
	case validName(c.Name) != nil:
		return nil, validName(c.Name)
	case c.Kind < route.KindHTTP || c.Kind > route.KindTCP:
		return nil, errors.New("cluster: claim: unknown kind")
	case c.Member == nil || !reflect.TypeOf(c.Member).Comparable():
		return nil, errors.New("cluster: claim: member is nil or not comparable")
	case len(c.Owner) > maxOwnerLen || len(c.Tunnel) > maxTunnelLen || len(c.PoolTerms) > maxTermsLen:
		return nil, errors.New("cluster: claim: owner, tunnel or pool terms too long")
	case r.ctx.Err() != nil:
		return nil, errors.New("cluster: claim: registry closed")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.mu.RLock()
	for _, lh := range r.local {
		if lh.claim.Name == c.Name && lh.claim.Member == c.Member {
			r.mu.RUnlock()
			return nil, errors.New("cluster: claim: member already holds the name")
		}
	}
	r.mu.RUnlock()
	ctx, cancel := context.WithTimeout(ctx, r.cfg.RequestTimeout)
	defer cancel()
	lh := &localHold{key: r.newKey(c.Name), claim: c}
	for range maxClaimAttempts {
		st, err := r.readName(ctx, c.Name)
		if err != nil {
			return nil, r.unavailable(ctx, err)
		}
		r.applyRead(c.Name, st)
		replace, err := decide(c, st)
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		r.local[lh.key] = lh // before the write, so the watch event finds the member
		r.mu.Unlock()
		val, tr, err := r.writeMember(ctx, lh, st, replace)
		if err != nil || !tr.Succeeded {
			r.mu.Lock()
			delete(r.local, lh.key)
			if err != nil {
				r.unbind[lh.key] = "" // the write's outcome is unknown: make sure the key is gone
			}
			r.mu.Unlock()
			if err != nil {
				r.wake()
				return nil, r.unavailable(ctx, err)
			}
			continue
		}
		rev := tr.Header.Revision
		r.mu.Lock()
		defer r.mu.Unlock()
		prev := make([]route.Entry, 0, len(replace))
		for _, s := range replace {
			prev = append(prev, r.entryOf(s))
			delete(r.local, s.key) // a takeover on this node: the caller closes the replaced member
			if rev > r.watchRev {
				r.applyDelete(s.key, rev)
				r.tombs[s.key] = rev
			}
		}
		if rev > r.watchRev {
			r.applyPut(lh.key, []byte(val), rev, rev, int64(r.currentLease()))
		}
		r.rebuild(c.Name)
		if len(prev) == 0 {
			return nil, nil
		}
		return prev, nil
	}
	return nil, r.unavailable(ctx, errors.New("the name kept changing"))
}

// newKey returns a fresh member key for name, unique to this registry.
func (r *Registry) newKey(name string) string {
	return r.namesPrefix + name + "/" + r.cfg.Node + "/" + r.instance + "." + strconv.FormatUint(r.seq.Add(1), 10)
}

// nameState is what etcd holds for one name at one revision.
type nameState struct {
	rev      int64
	holders  []*stored // oldest first
	complete bool      // holders are all the name's member keys
	hold     *holdRecord
}

// readName reads a name's member keys and hold in one round trip.
func (r *Registry) readName(ctx context.Context, name string) (nameState, error) {
	tr, err := r.cli.Txn(ctx).Then(
		clientv3.OpGet(r.namesPrefix+name+"/", clientv3.WithPrefix(), clientv3.WithLimit(route.MaxPoolMembers+1)),
		clientv3.OpGet(r.holdsPrefix+name),
	).Commit()
	if err != nil {
		return nameState{}, err
	}
	st := nameState{rev: tr.Header.Revision, complete: !tr.Responses[0].GetResponseRange().More}
	for _, kv := range tr.Responses[0].GetResponseRange().Kvs {
		if s := r.parse(string(kv.Key), kv.Value, kv.CreateRevision, kv.ModRevision, kv.Lease); s != nil {
			st.holders = append(st.holders, s)
		}
	}
	sortStored(st.holders)
	if kvs := tr.Responses[1].GetResponseRange().Kvs; len(kvs) == 1 {
		if h, err := decodeHold(kvs[0].Value); err == nil {
			st.hold = &h
		}
	}
	return st, nil
}

// decide applies route.Registry's rules to a claim of a name in state st:
// the holders the claim replaces, or why it is refused.
func decide(c route.Claim, st nameState) ([]*stored, error) {
	if len(st.holders) == 0 {
		if st.hold != nil && st.hold.Owner != c.Owner {
			return nil, route.InUse(c.Name)
		}
		return nil, nil
	}
	h := st.holders[0]
	held := route.Held{Kind: h.kind, Owner: h.rec.Owner, Pool: h.rec.Pool, Terms: h.rec.Terms, Members: len(st.holders)}
	if err := route.Refusal(c, held); err != nil {
		return nil, err
	}
	if c.Pool {
		return nil, nil // joins the pool
	}
	return st.holders, nil
}

// writeMember writes lh's key (and the name's hold) if the name is still
// as st read it, deleting the holders it replaces.
func (r *Registry) writeMember(ctx context.Context, lh *localHold, st nameState, replace []*stored) (string, *clientv3.TxnResponse, error) {
	c := lh.claim
	val := record{V: 1, Node: r.cfg.Node, Tunnel: c.Tunnel, Owner: c.Owner, Kind: c.Kind.String(), Pool: c.Pool, Terms: c.PoolTerms}.encode()
	r.leaseMu.Lock()
	lease, holdLease := r.lease, r.holdLease
	r.leaseMu.Unlock()
	holdKey := r.holdsPrefix + c.Name
	ops := []clientv3.Op{clientv3.OpPut(lh.key, val, clientv3.WithLease(lease))}
	if holdLease != 0 {
		ops = append(ops, clientv3.OpPut(holdKey, holdValue(c.Owner), clientv3.WithLease(holdLease)))
	}
	for _, s := range replace {
		if s.key != lh.key {
			ops = append(ops, clientv3.OpDelete(s.key))
		}
	}
	tr, err := r.cli.Txn(ctx).If(
		// Nothing under the name and its hold changed since st was read:
		// a key created, rewritten or (for the hold) put since then fails
		// the claim, which then reads again.
		clientv3.Compare(clientv3.ModRevision(r.namesPrefix+c.Name+"/"), "<", st.rev+1).WithPrefix(),
		clientv3.Compare(clientv3.ModRevision(holdKey), "<", st.rev+1),
	).Then(ops...).Commit()
	return val, tr, err
}

// holdValue is the value of a hold key for owner.
func holdValue(owner string) string {
	return `{"v":1,"owner":` + strconv.Quote(owner) + `}`
}

// Release unbinds name from m if m still holds it; see route.Registry. It
// returns once etcd has deleted the member's key, or after
// Config.RequestTimeout, leaving the deletion to the maintenance loop
// when etcd is unreachable (the member stops serving at once either way).
func (r *Registry) Release(name string, m route.Member) bool {
	r.mu.Lock()
	var lh *localHold
	for _, h := range r.local {
		if h.claim.Name == name && h.claim.Member == m {
			lh = h
			break
		}
	}
	if lh == nil {
		r.mu.Unlock()
		return false
	}
	delete(r.local, lh.key)
	delete(r.repair, lh.key)
	r.rebuild(name)
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.RequestTimeout)
	defer cancel()
	if err := r.deleteMember(ctx, lh.key, name, lh.claim.Owner); err != nil {
		r.mu.Lock()
		r.unbind[lh.key] = lh.claim.Owner
		r.mu.Unlock()
		r.wake()
	}
	return true
}

// deleteMember deletes one of this node's member keys and, when it was
// the name's last, holds the name for owner for Config.Hold.
func (r *Registry) deleteMember(ctx context.Context, key, name, owner string) error {
	// The key is this registry's own (newKey): no other writer has it, so
	// deleting it cannot unbind a successor.
	tr, err := r.cli.Txn(ctx).Then(clientv3.OpDelete(key)).Commit()
	if err != nil {
		return err
	}
	rev := tr.Header.Revision
	r.mu.Lock()
	if rev > r.watchRev {
		r.applyDelete(key, rev)
		r.tombs[key] = rev
	}
	r.rebuild(name)
	r.mu.Unlock()
	if r.cfg.Hold <= 0 || owner == "" {
		return nil
	}
	hl, err := r.releaseHoldLease(ctx)
	if err != nil {
		return nil // the key is gone; the hold is best effort
	}
	_, err = r.cli.Txn(ctx).If(
		clientv3.Compare(clientv3.CreateRevision(r.namesPrefix+name+"/"), "=", 0).WithPrefix(),
	).Then(clientv3.OpPut(r.holdsPrefix+name, holdValue(owner), clientv3.WithLease(hl))).Commit()
	if err != nil {
		r.cfg.Logger.Warn("cluster: could not hold a released name", "node", r.cfg.Node, "name", name, "err", err)
	}
	return nil
}

// releaseHoldLease returns a lease of TTL Config.Hold for the holds of
// released names, shared by the releases of a few seconds.
func (r *Registry) releaseHoldLease(ctx context.Context) (clientv3.LeaseID, error) {
	r.leaseMu.Lock()
	defer r.leaseMu.Unlock()
	if r.releaseLease != 0 && time.Since(r.releaseLeaseAt) < 5*time.Second {
		return r.releaseLease, nil
	}
	l, err := r.cli.Grant(ctx, seconds(r.cfg.Hold))
	if err != nil {
		return 0, err
	}
	r.releaseLease, r.releaseLeaseAt = l.ID, time.Now()
	return l.ID, nil
}

// Lookup returns the member holding name for kind, from memory: a
// route.Member of this node as its Claim passed it, or a Remote; see
// route.Registry.
func (r *Registry) Lookup(name string, kind route.Kind) (route.Member, bool) {
	ms := r.Members(name, kind)
	if len(ms) == 0 {
		return nil, false
	}
	return ms[0], true
}

// Members returns the members holding name for kind, oldest first, from
// memory, without allocating; see route.Registry.
func (r *Registry) Members(name string, kind route.Kind) []route.Member {
	r.mu.RLock()
	v, ok := r.views[name]
	r.mu.RUnlock()
	if !ok || v.kind != kind {
		return nil
	}
	return v.members
}

// ByOwner lists every name owner holds on any node, sorted by name, a
// pool's members oldest first; see route.Registry.
func (r *Registry) ByOwner(owner string) []route.Entry {
	r.mu.RLock()
	var out []route.Entry
	for _, v := range r.views {
		if v.owner == owner {
			out = append(out, v.entries...)
		}
	}
	r.mu.RUnlock()
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// wake asks the maintenance loop to run now.
func (r *Registry) wake() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// currentLease is the node's lease now.
func (r *Registry) currentLease() clientv3.LeaseID {
	r.leaseMu.Lock()
	defer r.leaseMu.Unlock()
	return r.lease
}

// sortStored orders a name's members oldest first.
func sortStored(ss []*stored) {
	slices.SortFunc(ss, func(a, b *stored) int {
		if c := cmp.Compare(a.create, b.create); c != 0 {
			return c
		}
		return strings.Compare(a.key, b.key)
	})
}
