// Package cluster is the name registry of several edge nodes serving one
// domain: a route.Registry on etcd (used as a client; the etcd server is
// the operator's). Every node claims names in etcd with transactions,
// holds them on its own lease, and answers Lookup from an in-memory copy
// of every node's names kept current by a watch.
//
// # Key layout
//
// All keys live under one prefix (Config.Prefix, "/sshgress/v1/"):
//
//	names/<name>/<node>/<instance>.<seq>   one member holding <name>
//	holds/<name>                           who a free name is reserved for
//
// HTTP host names, TLS SNI names and TCP "host:port" addresses share the
// names directory, so a claim of one kind sees every other kind's holder.
// A name has one key per member (one for an unpooled name, one per pooled
// tunnel), each a small JSON record (node, tunnel ID, owner, kind, pool
// flag, pool terms) attached to the lease of the node that holds that
// member. One key per member rather than one key per name, because a key
// has one lease: a pool spanning two nodes in one key would vanish with
// whichever node wrote it last. A member key is unique to the Registry
// that wrote it (<instance> is random per process), so deleting it can
// never unbind another tunnel, and a restarted node never collides with
// its previous run's keys that have not expired yet.
//
// # Claims
//
// A claim reads the name's member keys and hold in one round trip (a
// read-only transaction at revision R), applies route.Registry's rules to
// them (decide: other owner or kind refused, takeover of the same owner's
// members, pools of equal terms), and writes in one transaction that
// succeeds only if no key under the name and no hold changed after R
// (ModRevision < R+1 over the name's prefix): so of concurrent claims of
// a free name exactly one wins and the others read again and are refused
// with route.ErrInUse. A takeover deletes the replaced members' keys in
// the same transaction. Release deletes the member's own key.
//
// # Leases
//
// Each node has one lease (Config.LeaseTTL, 10 s) for all its member
// keys, kept alive; Close revokes it, so a gracefully stopped node frees
// its names at once, and a killed one frees them within the TTL. When etcd
// stays unreachable past a lease's deadline, clientv3 closes the keepalive
// channel: the lease is re-attached if etcd still has it (an outage
// shorter than the TTL, or a restart, which extends every lease), or
// replaced by a new lease, after which each member of this node is written
// again if the name's rules still allow it; a member whose name another
// tunnel holds by then is dropped and reported to Config.OnLost, so the
// edge closes that tunnel with a message. Two owners never hold one name:
// every write is a compare-and-swap on the name's current keys.
//
// # Holds
//
// While a node holds a name, the name's hold key names its owner, on a
// second lease of the node with TTL Config.Hold (2 min). A release writes
// the hold again on a lease that is not kept alive; a dead node's hold
// lease expires Hold after its last keepalive. Either way the owner can
// claim the name again for Hold (through any node, after a reconnect)
// while another owner is refused as if the name were in use. Close does
// not revoke the hold lease.
//
// # The watch cache
//
// A node lists the names directory at start and watches it from the
// list's revision; Lookup, Members and ByOwner read only this memory, so
// a visitor's request never waits on etcd, and Members returns prebuilt
// slices without allocating. A member of this node resolves to the
// route.Member its Claim passed; a member on another node to a Remote
// naming the node and tunnel, for the edges to relay to. A node's own
// writes apply to its cache when Claim returns, before the watch delivers
// them. A compacted or broken watch lists again. When the watch shows that
// another node's claim took over a member of this node (the same owner
// reconnecting elsewhere), Config.OnTakenOver is told, so the edge closes
// the stale tunnel and tells its session.
//
// # etcd unavailable
//
// Existing names keep serving from the cache. Every etcd call has a
// deadline (Config.RequestTimeout, 2.5 s): a claim fails within it with
// the user error "cluster coordination is unavailable; try again shortly"
// (ErrUnavailable). A release that cannot reach etcd stops the member at
// once and deletes its key when etcd is back.
//
// # Bounds
//
// Values read from etcd are at most 4 KiB and strictly validated; the
// cache keeps at most Config.MaxKeys keys; claimed names, owners, tunnel
// IDs and pool terms are bounded. Nothing secret is stored or logged: the
// owner is an account name, the pool terms a keyed digest
// (route.PoolTerms).
package cluster
