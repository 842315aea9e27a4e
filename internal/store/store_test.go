package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
)

func open(tb testing.TB) *Store {
	st, err := Open(context.Background(), Config{DataDir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// TestTable covers the compare-and-set contract control relies on.
func TestTable(t *testing.T) {
	ctx := context.Background()
	st := open(t)
	tb := st.Functions
	rev, err := tb.Create(ctx, "f", []byte("1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Create(ctx, "f", []byte("x")); !errors.Is(err, ErrExists) {
		t.Fatalf("second create: %v", err)
	}
	if e, ok := tb.Get("f"); !ok || string(e.Value) != "1" || e.Revision != rev {
		t.Fatalf("read own write: %+v %v", e, ok)
	}
	rev2, err := tb.Update(ctx, "f", []byte("2"), rev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Update(ctx, "f", []byte("3"), rev); !errors.Is(err, ErrRevision) {
		t.Fatalf("stale update: %v", err)
	}
	if err := tb.Delete(ctx, "f", rev); !errors.Is(err, ErrRevision) {
		t.Fatalf("stale delete: %v", err)
	}
	if err := tb.Delete(ctx, "f", rev2); err != nil {
		t.Fatal(err)
	}
	if _, ok := tb.Get("f"); ok {
		t.Fatal("deleted key still readable")
	}
	if _, ok, err := tb.Fresh(ctx, "f"); ok || err != nil {
		t.Fatalf("fresh read of a deleted key: %v %v", ok, err)
	}
	if _, err := tb.Create(ctx, "f", []byte("again")); err != nil {
		t.Fatalf("create after delete: %v", err)
	}
}

func TestCodeRoundTrip(t *testing.T) {
	ctx := context.Background()
	st := open(t)
	b := make([]byte, 3<<20+17) // several chunks and a partial one
	_, _ = rand.Read(b)
	sum := sha256.Sum256(b)
	key := hex.EncodeToString(sum[:])
	if err := st.Code.Put(ctx, key, b); err != nil {
		t.Fatal(err)
	}
	if err := st.Code.Put(ctx, key, b); err != nil { // idempotent
		t.Fatal(err)
	}
	got, err := st.Code.Get(ctx, key)
	if err != nil || string(got) != string(b) {
		t.Fatalf("get: %d bytes, %v", len(got), err)
	}
	if _, err := st.Code.Get(ctx, "0000"); !errors.Is(err, ErrNoCode) {
		t.Fatalf("missing: %v", err)
	}
}

func BenchmarkCodePut1MB(b *testing.B) {
	st := open(b)
	ctx := context.Background()
	data := make([]byte, 1<<20)
	for b.Loop() {
		_, _ = rand.Read(data[:32])
		sum := sha256.Sum256(data)
		if err := st.Code.Put(ctx, hex.EncodeToString(sum[:]), data); err != nil {
			b.Fatal(err)
		}
	}
}
