// Package seentest is the contract suite of eventsub.SeenStore: a store
// shared by a fleet (in a database, a cache) runs it in its own tests, as
// the in-memory store does.
//
//	func TestSeenStore(t *testing.T) {
//		seentest.Run(t, func(t *testing.T) eventsub.SeenStore { return newMyStore(t) })
//	}
package seentest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth/eventsub"
)

// Run checks the SeenStore contract on fresh stores from newStore: a new ID
// is not a duplicate and a recorded one is; Forget lets an ID be recorded
// again; an ID whose expiry has passed is no longer a duplicate; of
// concurrent MarkSeen calls with one ID exactly one reports it new; IDs are
// independent of each other.
func Run(t *testing.T, newStore func(t *testing.T) eventsub.SeenStore) {
	ctx := context.Background()
	later := func() time.Time { return time.Now().Add(time.Hour) }
	mark := func(t *testing.T, s eventsub.SeenStore, id string, exp time.Time) bool {
		t.Helper()
		dup, err := s.MarkSeen(ctx, id, exp)
		if err != nil {
			t.Fatalf("MarkSeen(%q): %v", id, err)
		}
		return dup
	}
	t.Run("duplicate", func(t *testing.T) {
		s := newStore(t)
		if mark(t, s, "a", later()) {
			t.Fatal("a new ID reported as a duplicate")
		}
		if !mark(t, s, "a", later()) {
			t.Fatal("a recorded ID not reported as a duplicate")
		}
		if mark(t, s, "b", later()) {
			t.Fatal("another ID reported as a duplicate")
		}
	})
	t.Run("forget", func(t *testing.T) {
		s := newStore(t)
		mark(t, s, "a", later())
		if err := s.Forget(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		if mark(t, s, "a", later()) {
			t.Fatal("a forgotten ID is still a duplicate")
		}
		if !mark(t, s, "a", later()) {
			t.Fatal("an ID recorded again after Forget is not a duplicate")
		}
		if err := s.Forget(ctx, "never-seen"); err != nil {
			t.Fatalf("Forget of an unknown ID: %v", err)
		}
	})
	t.Run("expiry", func(t *testing.T) {
		s := newStore(t)
		mark(t, s, "old", time.Now().Add(-time.Second))
		if mark(t, s, "old", later()) {
			t.Fatal("an expired ID is still a duplicate")
		}
		if !mark(t, s, "old", later()) {
			t.Fatal("an ID recorded again after expiry is not a duplicate")
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		s := newStore(t)
		for round := 0; round < 20; round++ {
			id := fmt.Sprint("c", round)
			var wg sync.WaitGroup
			var mu sync.Mutex
			fresh := 0
			for g := 0; g < 8; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					dup, err := s.MarkSeen(ctx, id, later())
					if err != nil {
						t.Error(err)
						return
					}
					if !dup {
						mu.Lock()
						fresh++
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if fresh != 1 {
				t.Fatalf("%d concurrent callers saw ID %s as new, want exactly 1", fresh, id)
			}
		}
	})
}
