package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// FileName is the bbolt store's file in the data dir.
const FileName = "store.db"

// LockTimeout bounds the wait for the store file's lock: another edge that
// holds it makes OpenBolt fail after this long.
const LockTimeout = time.Second

// LogRevisions is how many revisions of changes the store keeps for
// watches; a watch from an older revision gets ErrCompacted.
const LogRevisions = 10000

var (
	bucketKV   = []byte("kv")
	bucketLog  = []byte("log")
	bucketMeta = []byte("meta")
	metaRev    = []byte("rev")
)

// Bolt is the embedded Store: one bbolt file, locked by this process while
// open, written with fsync on every transaction.
type Bolt struct {
	db   *bolt.DB
	path string

	mu     sync.Mutex
	notify chan struct{} // closed and replaced on every commit
	closed chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
}

var _ Store = (*Bolt)(nil)

// Open opens the store in dataDir (FileName), creating it if absent.
func Open(dataDir string) (*Bolt, error) {
	return OpenBolt(filepath.Join(dataDir, FileName))
}

// OpenBolt opens the bbolt store at path, creating it if absent. It fails,
// with an error naming the file, when another process holds its lock
// (after LockTimeout) and when the file is empty, truncated or corrupt: it
// never resets a file that exists.
func OpenBolt(path string) (b *Bolt, err error) {
	fi, statErr := os.Stat(path)
	exists := statErr == nil
	if exists && fi.Size() == 0 {
		return nil, fmt.Errorf("store: %s is empty (truncated?): it is left as it is; restore it from a backup, or remove it to start with an empty store", path)
	}
	defer func() {
		if r := recover(); r != nil {
			err = corrupt(path, fmt.Errorf("%v", r))
		}
	}()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: LockTimeout})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("store: %s is locked by another edge (waited %s): stop that edge, or give this one its own data_dir", path, LockTimeout)
		}
		if exists {
			return nil, corrupt(path, err)
		}
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := check(db, exists); err != nil {
		db.Close()
		return nil, corrupt(path, err)
	}
	return &Bolt{db: db, path: path, notify: make(chan struct{}), closed: make(chan struct{})}, nil
}

func corrupt(path string, err error) error {
	return fmt.Errorf("store: %s is truncated or corrupt (%v): it is left as it is; restore it from a backup, or move it away to start with an empty store", path, err)
}

// check verifies an opened file before anything reads it: no page past
// the end of the file (reading one would crash the process), bbolt's
// consistency check, and the buckets, created in a new file only.
func check(db *bolt.DB, existed bool) error {
	fi, err := os.Stat(db.Path())
	if err != nil {
		return err
	}
	if err := db.View(func(tx *bolt.Tx) error {
		if tx.Size() > fi.Size() {
			return fmt.Errorf("the file has %d bytes, its pages need %d", fi.Size(), tx.Size())
		}
		for err := range tx.Check() {
			return err
		}
		return nil
	}); err != nil {
		return err
	}
	return db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketKV, bucketLog, bucketMeta} {
			if tx.Bucket(name) != nil {
				continue
			}
			if existed {
				return fmt.Errorf("bucket %q is missing: not an sshgress store", name)
			}
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		return nil
	})
}

// Path is the store's file.
func (b *Bolt) Path() string { return b.path }

// record is a key's stored form.
type record struct {
	Value   []byte `json:"v"`
	Create  int64  `json:"c"`
	Mod     int64  `json:"m"`
	Version int64  `json:"n"`
}

func decode(key string, data []byte) (*KV, error) {
	var r record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("store: key %q: %w", key, err)
	}
	return &KV{Key: key, Value: r.Value, CreateRevision: r.Create, ModRevision: r.Mod, Version: r.Version}, nil
}

func (b *Bolt) open() error {
	select {
	case <-b.closed:
		return ErrClosed
	default:
		return nil
	}
}

// Get implements Store.
func (b *Bolt) Get(ctx context.Context, key string) (*KV, error) {
	if err := b.open(); err != nil {
		return nil, err
	}
	var kv *KV
	err := b.db.View(func(tx *bolt.Tx) error {
		data := tx.Bucket(bucketKV).Get([]byte(key))
		if data == nil {
			return nil
		}
		var err error
		kv, err = decode(key, data)
		return err
	})
	return kv, err
}

// List implements Store.
func (b *Bolt) List(ctx context.Context, prefix string) ([]KV, int64, error) {
	if err := b.open(); err != nil {
		return nil, 0, err
	}
	var kvs []KV
	var rev int64
	err := b.db.View(func(tx *bolt.Tx) error {
		rev = revision(tx)
		c := tx.Bucket(bucketKV).Cursor()
		p := []byte(prefix)
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			kv, err := decode(string(k), v)
			if err != nil {
				return err
			}
			kvs = append(kvs, *kv)
		}
		return nil
	})
	return kvs, rev, err
}

func revision(tx *bolt.Tx) int64 {
	v := tx.Bucket(bucketMeta).Get(metaRev)
	if len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

func revKey(rev int64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], uint64(rev))
	return k[:]
}

// Revision implements Store.
func (b *Bolt) Revision(ctx context.Context) (int64, error) {
	if err := b.open(); err != nil {
		return 0, err
	}
	var rev int64
	err := b.db.View(func(tx *bolt.Tx) error { rev = revision(tx); return nil })
	return rev, err
}

// Txn implements Store.
func (b *Bolt) Txn(ctx context.Context, t Txn) (int64, error) {
	if err := b.open(); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var rev int64
	err := b.db.Update(func(tx *bolt.Tx) error {
		kv := tx.Bucket(bucketKV)
		rev = revision(tx)
		for _, c := range t.If {
			var mod int64
			if data := kv.Get([]byte(c.Key)); data != nil {
				cur, err := decode(c.Key, data)
				if err != nil {
					return err
				}
				mod = cur.ModRevision
			}
			if c.Present && mod == 0 || !c.Present && mod != c.ModRevision {
				return fmt.Errorf("%w (key %q)", ErrConflict, c.Key)
			}
		}
		if len(t.Then) == 0 {
			return nil
		}
		rev++
		var events []Event
		for _, op := range t.Then {
			var prev *KV
			if data := kv.Get([]byte(op.Key)); data != nil {
				var err error
				if prev, err = decode(op.Key, data); err != nil {
					return err
				}
			}
			if op.Delete {
				if prev == nil {
					continue
				}
				if err := kv.Delete([]byte(op.Key)); err != nil {
					return err
				}
				events = append(events, Event{Type: EventDelete, KV: KV{Key: op.Key, ModRevision: rev}, PrevKV: prev})
				continue
			}
			r := record{Value: op.Value, Create: rev, Mod: rev, Version: 1}
			if prev != nil {
				r.Create, r.Version = prev.CreateRevision, prev.Version+1
			}
			data, err := json.Marshal(r)
			if err != nil {
				return err
			}
			if err := kv.Put([]byte(op.Key), data); err != nil {
				return err
			}
			events = append(events, Event{Type: EventPut, KV: KV{Key: op.Key, Value: op.Value, CreateRevision: r.Create, ModRevision: rev, Version: r.Version}, PrevKV: prev})
		}
		data, err := json.Marshal(events)
		if err != nil {
			return err
		}
		log := tx.Bucket(bucketLog)
		if err := log.Put(revKey(rev), data); err != nil {
			return err
		}
		if old := rev - LogRevisions; old > 0 {
			if err := log.Delete(revKey(old)); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(metaRev, revKey(rev))
	})
	if err != nil {
		return 0, err
	}
	if len(t.Then) > 0 {
		b.mu.Lock()
		close(b.notify)
		b.notify = make(chan struct{})
		b.mu.Unlock()
	}
	return rev, nil
}

// Watch implements Store.
func (b *Bolt) Watch(ctx context.Context, prefix string, from int64) <-chan WatchResponse {
	ch := make(chan WatchResponse)
	if from < 1 {
		from = 1
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		defer close(ch)
		next := from
		send := func(r WatchResponse) bool {
			select {
			case ch <- r:
				return true
			case <-ctx.Done():
			case <-b.closed:
			}
			return false
		}
		for {
			b.mu.Lock()
			wake := b.notify
			b.mu.Unlock()
			if b.open() != nil {
				return
			}
			resps, err := b.readLog(prefix, next)
			if err != nil {
				send(WatchResponse{Err: err})
				return
			}
			for _, r := range resps {
				next = r.Revision + 1
				if len(r.Events) > 0 && !send(r) {
					return
				}
			}
			select {
			case <-wake:
			case <-ctx.Done():
				return
			case <-b.closed:
				return
			}
		}
	}()
	return ch
}

// readLog returns the changes from revision from on, filtered by prefix
// (responses with no event keep next moving), at most 256 revisions.
func (b *Bolt) readLog(prefix string, from int64) ([]WatchResponse, error) {
	var out []WatchResponse
	err := b.db.View(func(tx *bolt.Tx) error {
		cur := revision(tx)
		if from > cur {
			return nil
		}
		if from <= cur-LogRevisions {
			return fmt.Errorf("%w: revision %d (oldest kept %d)", ErrCompacted, from, cur-LogRevisions+1)
		}
		c := tx.Bucket(bucketLog).Cursor()
		for k, v := c.Seek(revKey(from)); k != nil && len(out) < 256; k, v = c.Next() {
			var events []Event
			if err := json.Unmarshal(v, &events); err != nil {
				return fmt.Errorf("store: log: %w", err)
			}
			r := WatchResponse{Revision: int64(binary.BigEndian.Uint64(k))}
			for _, e := range events {
				if len(e.KV.Key) >= len(prefix) && e.KV.Key[:len(prefix)] == prefix {
					r.Events = append(r.Events, e)
				}
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// Close implements Store: it ends every watch, then closes the file.
func (b *Bolt) Close() error {
	var err error
	b.once.Do(func() {
		close(b.closed)
		b.wg.Wait()
		err = b.db.Close()
	})
	return err
}
