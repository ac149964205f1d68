package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/sshgress/sshgress/core/route"
)

// The defaults of Config.
const (
	// DefaultPrefix is the etcd key prefix every sshgress key lives under.
	DefaultPrefix = "/sshgress/v1/"
	// DefaultLeaseTTL is how long a node's names outlive the node: its lease's TTL.
	DefaultLeaseTTL = 10 * time.Second
	// DefaultHold is how long a released name stays reserved for its owner.
	DefaultHold = 2 * time.Minute
	// DefaultRequestTimeout bounds each etcd call of a claim, so a claim
	// fails within 3 s when etcd is unreachable.
	DefaultRequestTimeout = 2500 * time.Millisecond
	// DefaultMaxKeys bounds the name keys a node keeps in memory.
	DefaultMaxKeys = 200_000
)

// MinLeaseTTL is the shortest lease TTL accepted: etcd's keepalives run at a
// third of it, and a shorter lease would expire on an ordinary hiccup.
const MinLeaseTTL = 2 * time.Second

// maxValueBytes bounds one stored value read from etcd; a larger one is
// ignored (logged) rather than decoded.
const maxValueBytes = 4 << 10

// maxNodeLen bounds Config.Node.
const maxNodeLen = 63

// Config configures a Registry. The zero value of every field but
// Endpoints and Node is its default.
type Config struct {
	// Endpoints are the etcd client URLs ("http://etcd-1.internal:2379");
	// required.
	Endpoints []string
	// Node names this edge node, unique in the cluster: lowercase letters,
	// digits, '-' and '.', at most 63 bytes; required. It is stored in
	// every key the node writes and shown to other nodes as Remote.Node.
	Node string
	// Prefix is the etcd key prefix; default DefaultPrefix. It must start
	// and end with '/'.
	Prefix string
	// LeaseTTL is the TTL of the node's lease, which every name it holds
	// is attached to: a node that dies frees its names after it; default
	// DefaultLeaseTTL, at least MinLeaseTTL, rounded up to a second.
	LeaseTTL time.Duration
	// Hold is how long a name stays reserved for the owner that held it
	// once released or once its node died, so another owner cannot grab it
	// while its owner reconnects; default DefaultHold, negative disables
	// it. Rounded up to a second.
	Hold time.Duration
	// RequestTimeout bounds every etcd call; default
	// DefaultRequestTimeout. A claim makes at most a few calls within one
	// such budget.
	RequestTimeout time.Duration
	// MaxKeys bounds the name keys (one per member of a name) kept in
	// memory; default DefaultMaxKeys. Keys past it are ignored and logged.
	MaxKeys int
	// OnTakenOver is called with the entries of this node's members that
	// another node's claim replaced (the same owner reconnecting through
	// another node): the caller closes those tunnels and tells their
	// sessions. It runs on the registry's watch goroutine and must not
	// block; calling Release from it is not needed (the members no longer
	// hold the names). Nil ignores takeovers.
	OnTakenOver func([]route.Entry)
	// OnLost is called with the entries of this node's members that lost
	// their names for good: the node's lease expired (etcd unreachable
	// longer than LeaseTTL) and another tunnel holds the name now. The
	// caller closes those tunnels with a message. Same rules as
	// OnTakenOver.
	OnLost func([]route.Entry)
	// Logger receives the registry's own warnings (etcd unreachable,
	// oversized values); default slog.Default(). No secret is logged.
	Logger *slog.Logger
}

// withDefaults returns c with its defaults applied, or the first invalid
// field.
func (c Config) withDefaults() (Config, error) {
	if len(c.Endpoints) == 0 {
		return c, errors.New("cluster: config: etcd_endpoints: at least one endpoint is required")
	}
	if err := validNode(c.Node); err != nil {
		return c, err
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if !strings.HasPrefix(c.Prefix, "/") || !strings.HasSuffix(c.Prefix, "/") {
		return c, fmt.Errorf("cluster: config: prefix %q must start and end with '/'", c.Prefix)
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = DefaultLeaseTTL
	}
	if c.LeaseTTL < MinLeaseTTL {
		return c, fmt.Errorf("cluster: config: lease TTL %v is below the minimum %v", c.LeaseTTL, MinLeaseTTL)
	}
	if c.Hold == 0 {
		c.Hold = DefaultHold
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.MaxKeys <= 0 {
		c.MaxKeys = DefaultMaxKeys
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

// validNode checks a node name: it is part of etcd keys and of tcp URLs.
func validNode(n string) error {
	if n == "" || len(n) > maxNodeLen {
		return fmt.Errorf("cluster: config: node %q must be 1 to %d bytes", n, maxNodeLen)
	}
	for i := 0; i < len(n); i++ {
		b := n[i]
		if !(b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '-' || b == '.') {
			return fmt.Errorf("cluster: config: node %q may hold only lowercase letters, digits, '-' and '.'", n)
		}
	}
	return nil
}

// seconds is d as a whole number of seconds, rounded up: etcd leases are
// granted in seconds.
func seconds(d time.Duration) int64 {
	return int64((d + time.Second - 1) / time.Second)
}
