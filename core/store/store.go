// Package store keeps the edge's changeable state: accounts, their SSH keys,
// reserved domains and TCP addresses, invites and API tokens, with room for
// a certificate cache and cluster state. It is one Go interface, Store,
// shaped after etcd's (revisions, transactions that compare a key's revision
// and then put or delete, a watch of changes from a revision), so an etcd
// backend can implement it next; the default backend is an embedded bbolt
// file in the data dir (OpenBolt). Records on top of a Store are typed and
// encoded as JSON (records.go).
package store

import (
	"context"
	"errors"
)

// Well-known key prefixes. Every key of a typed record starts with one of
// them; CertsPrefix and ClusterPrefix are reserved for what follows.
const (
	AccountsPrefix = "accounts/"
	KeysPrefix     = "keys/"
	DomainsPrefix  = "domains/"
	TCPPrefix      = "tcp/"
	InvitesPrefix  = "invites/"
	TokensPrefix   = "tokens/"
	CertsPrefix    = "certs/"
	ClusterPrefix  = "cluster/"
)

// KV is one key with its value and revisions, as etcd's mvccpb.KeyValue.
type KV struct {
	Key   string
	Value []byte
	// CreateRevision is the revision that created the key (since it was
	// last deleted).
	CreateRevision int64
	// ModRevision is the revision of the key's last change.
	ModRevision int64
	// Version counts the key's changes since its creation, from 1.
	Version int64
}

// Compare is one condition of a transaction on a key's revisions.
type Compare struct {
	Key string
	// ModRevision is the revision the key must have been changed at last;
	// 0 means the key must not exist. Present ignores it.
	ModRevision int64
	// Present, when true, asks only that the key exists.
	Present bool
}

// Absent is the condition that key does not exist (etcd:
// CreateRevision(key) = 0).
func Absent(key string) Compare { return Compare{Key: key} }

// Unchanged is the condition that key was last changed at rev (etcd:
// ModRevision(key) = rev).
func Unchanged(key string, rev int64) Compare { return Compare{Key: key, ModRevision: rev} }

// Present is the condition that key exists (etcd: CreateRevision(key) > 0).
func Present(key string) Compare { return Compare{Key: key, Present: true} }

// Op is one write of a transaction.
type Op struct {
	Key    string
	Value  []byte
	Delete bool
}

// Put is the write of value at key.
func Put(key string, value []byte) Op { return Op{Key: key, Value: value} }

// Delete is the removal of key (a no-op if it does not exist).
func Delete(key string) Op { return Op{Key: key, Delete: true} }

// Txn is a transaction: if every condition holds, every op is applied,
// atomically, at one new revision.
type Txn struct {
	If   []Compare
	Then []Op
}

// EventType says what an Event did.
type EventType int

const (
	EventPut EventType = iota
	EventDelete
)

// Event is one change seen by a watch.
type Event struct {
	Type EventType
	// KV is the key after the change; for a delete, its Key and, as
	// ModRevision, the revision of the delete.
	KV KV
	// PrevKV is the key before the change; nil if it did not exist.
	PrevKV *KV
}

// WatchResponse is the changes of one revision, or the error that ended
// the watch (then the channel is closed after it).
type WatchResponse struct {
	Revision int64
	Events   []Event
	Err      error
}

// Errors a Store returns; match them with errors.Is.
var (
	// ErrConflict: a transaction's condition did not hold; nothing changed.
	ErrConflict = errors.New("store: conflict: the data changed meanwhile")
	// ErrNotFound marks a user error about a record that does not exist
	// (an account, a key, a reservation).
	ErrNotFound = errors.New("store: not found")
	// ErrCompacted: a watch asked for revisions no longer kept.
	ErrCompacted = errors.New("store: the requested revision is compacted")
	// ErrClosed: the store is closed.
	ErrClosed = errors.New("store: closed")
)

// Store is a key/value store with revisions. Every method is safe for
// concurrent use; every method that takes a context returns when it is done.
type Store interface {
	// Get returns key, or nil if it does not exist.
	Get(ctx context.Context, key string) (*KV, error)
	// List returns the keys under prefix in key order, and the store's
	// revision they were read at (watch from rev+1 to follow them).
	List(ctx context.Context, prefix string) (kvs []KV, rev int64, err error)
	// Txn applies t, returning the new revision; ErrConflict (wrapped)
	// when a condition did not hold, and then nothing was written. A
	// transaction with no op writes nothing and returns the current
	// revision.
	Txn(ctx context.Context, t Txn) (rev int64, err error)
	// Watch sends every change under prefix from revision from (inclusive)
	// on, one response per revision in order, until ctx ends or the store
	// closes; then the channel is closed. A slow reader delays only its own
	// watch.
	Watch(ctx context.Context, prefix string, from int64) <-chan WatchResponse
	// Revision is the store's current revision (0 for an empty store).
	Revision(ctx context.Context) (int64, error)
	// Close releases the store (and its file lock). Idempotent.
	Close() error
}
