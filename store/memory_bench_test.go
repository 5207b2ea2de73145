package store_test

import (
	"context"
	"sync"
	"testing"

	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/store/storetest"
)

// BenchmarkMemory compares store.Memory with its anchor, a map behind a
// mutex holding the same records without copying, validation or CAS.
func BenchmarkMemory(b *testing.B) {
	ctx := context.Background()
	b.Run("Load", func(b *testing.B) {
		m := store.NewMemory()
		m.Save(ctx, storetest.Sample("user:1"), 0)
		for b.Loop() {
			if _, err := m.Load(ctx, "user:1"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Load/anchor-map", func(b *testing.B) {
		var mu sync.Mutex
		mp := map[string]store.Record{"user:1": storetest.Sample("user:1")}
		var sink store.Record
		for b.Loop() {
			mu.Lock()
			sink = mp["user:1"]
			mu.Unlock()
		}
		_ = sink
	})
	b.Run("Save", func(b *testing.B) {
		m := store.NewMemory()
		rec, _ := m.Save(ctx, storetest.Sample("user:1"), 0)
		var err error
		for b.Loop() {
			if rec, err = m.Save(ctx, rec, rec.Version); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Save/anchor-map", func(b *testing.B) {
		var mu sync.Mutex
		mp := map[string]store.Record{}
		rec := storetest.Sample("user:1")
		for b.Loop() {
			mu.Lock()
			mp["user:1"] = rec
			mu.Unlock()
		}
	})
}

// BenchmarkClaimRound: a validation round's claim bookkeeping per grant
// beside a Save per grant (storetest.BenchmarkClaimRound), on 1,000 grants.
func BenchmarkClaimRound(b *testing.B) {
	storetest.BenchmarkClaimRound(b, func(*testing.B) store.Store { return store.NewMemory() }, 1000)
}
