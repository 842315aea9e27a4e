package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrExists is returned by Create when the key is already there.
var ErrExists = errors.New("key exists")

// ErrRevision is returned by Update and Delete when the key changed since it was read.
var ErrRevision = errors.New("key changed since it was read")

// Entry is one value with the KV revision it was written at. Revisions are what
// compare-and-set writes check, so every read-modify-write in control carries one.
type Entry struct {
	Value    []byte
	Revision uint64
}

// Table is a KV bucket with an in-memory mirror kept current by a watch. Reads come
// from the mirror (no round trip: GetFunction must cost well under a millisecond);
// writes go to JetStream with a revision check and are applied to the mirror as soon
// as JetStream acknowledges them, so a client reads its own writes on this node.
// Other nodes' writes arrive through the watch.
type Table struct {
	kv jetstream.KeyValue
	w  jetstream.KeyWatcher

	mu sync.RWMutex
	m  map[string]mirrored
	// changes counts the values the mirror has taken in, so a reader that derives
	// something from several entries can tell cheaply that none of them changed.
	changes atomic.Uint64
}

type mirrored struct {
	Entry
	deleted bool // a tombstone, kept so a late watch update cannot resurrect the key
}

func openTable(ctx context.Context, kv jetstream.KeyValue) (*Table, error) {
	t := &Table{kv: kv, m: make(map[string]mirrored)}
	w, err := kv.WatchAll(context.Background())
	if err != nil {
		return nil, err
	}
	t.w = w
	// The watcher sends every current value, then a nil marker.
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return nil, errors.New("watch closed during initial load")
			}
			if e == nil {
				go t.follow()
				return t, nil
			}
			t.apply(e)
		case <-ctx.Done():
			w.Stop()
			return nil, ctx.Err()
		}
	}
}

func (t *Table) follow() {
	for e := range t.w.Updates() {
		if e != nil {
			t.apply(e)
		}
	}
}

func (t *Table) apply(e jetstream.KeyValueEntry) {
	del := e.Operation() != jetstream.KeyValuePut
	t.set(e.Key(), Entry{Value: e.Value(), Revision: e.Revision()}, del)
}

// set records a value unless the mirror already holds a newer one.
func (t *Table) set(key string, e Entry, deleted bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if cur, ok := t.m[key]; ok && cur.Revision >= e.Revision {
		return
	}
	t.m[key] = mirrored{Entry: e, deleted: deleted}
	t.changes.Add(1)
}

// Changes is a counter that moves whenever the mirror changes. Equal counts mean
// equal contents.
func (t *Table) Changes() uint64 { return t.changes.Load() }

func (t *Table) stop() {
	if t.w != nil {
		_ = t.w.Stop()
	}
}

// Get returns the mirrored value of key.
func (t *Table) Get(key string) (Entry, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	e, ok := t.m[key]
	if !ok || e.deleted {
		return Entry{}, false
	}
	return e.Entry, true
}

// Fresh reads key from JetStream itself, bypassing the mirror. Writers use it after
// a revision conflict, when another node may have written what the mirror lacks.
func (t *Table) Fresh(ctx context.Context, key string) (Entry, bool, error) {
	e, err := t.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, err
	}
	ent := Entry{Value: e.Value(), Revision: e.Revision()}
	t.set(key, ent, false)
	return ent, true, nil
}

// Keys returns the mirrored keys that start with prefix, sorted.
func (t *Table) Keys(prefix string) []string {
	t.mu.RLock()
	keys := make([]string, 0, 16)
	for k, e := range t.m {
		if !e.deleted && strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	t.mu.RUnlock()
	sort.Strings(keys)
	return keys
}

// Create writes key only if it does not exist.
func (t *Table) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	rev, err := t.kv.Create(ctx, key, value)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return 0, fmt.Errorf("%s: %w", key, ErrExists)
	}
	if err != nil {
		return 0, err
	}
	t.set(key, Entry{Value: value, Revision: rev}, false)
	return rev, nil
}

// Update writes key only if its revision is still rev.
func (t *Table) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	nrev, err := t.kv.Update(ctx, key, value, rev)
	if isWrongRevision(err) {
		return 0, fmt.Errorf("%s: %w", key, ErrRevision)
	}
	if err != nil {
		return 0, err
	}
	t.set(key, Entry{Value: value, Revision: nrev}, false)
	return nrev, nil
}

// Put writes key unconditionally.
func (t *Table) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	rev, err := t.kv.Put(ctx, key, value)
	if err != nil {
		return 0, err
	}
	t.set(key, Entry{Value: value, Revision: rev}, false)
	return rev, nil
}

// Delete removes key; with rev > 0, only if its revision is still rev.
func (t *Table) Delete(ctx context.Context, key string, rev uint64) error {
	var opts []jetstream.KVDeleteOpt
	if rev > 0 {
		opts = append(opts, jetstream.LastRevision(rev))
	}
	err := t.kv.Delete(ctx, key, opts...)
	if isWrongRevision(err) {
		return fmt.Errorf("%s: %w", key, ErrRevision)
	}
	if err != nil {
		return err
	}
	// The delete marker's revision is unknown here; a tombstone one past the last
	// known revision hides the key now and still lets the marker (or a newer put
	// from another node) through when the watch delivers it.
	t.mu.Lock()
	cur := t.m[key]
	if rev == 0 {
		rev = cur.Revision
	}
	if rev < cur.Revision {
		rev = cur.Revision
	}
	t.m[key] = mirrored{Entry: Entry{Revision: rev}, deleted: true}
	t.mu.Unlock()
	return nil
}

func isWrongRevision(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence {
		return true
	}
	return errors.Is(err, jetstream.ErrKeyExists)
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("NATS listen address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("NATS listen port %q: %w", p, err)
	}
	return host, port, nil
}
