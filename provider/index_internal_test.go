package provider

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/store/sqlite"
)

const indexClient = "indexclient"

func seedGrants(t testing.TB, st store.Store, from, n int) {
	t.Helper()
	ctx := context.Background()
	ops := make([]store.SaveOp, 0, n)
	for i := from; i < from+n; i++ {
		id := fmt.Sprint(1000000 + i)
		ops = append(ops, store.SaveOp{Record: store.Record{Key: store.GrantKey(indexClient, store.UserKey(id)), ClientID: indexClient,
			UserID: id, Login: "user" + id, AccessToken: fmt.Sprintf("a%029d", i), RefreshToken: fmt.Sprintf("r%049d", i),
			TokenType: "bearer", Scopes: []string{"chat:read", "chat:edit", "user:read:email"},
			Expiry: time.Now().Add(4 * time.Hour), Status: store.StatusActive}})
	}
	for _, r := range store.SaveAll(ctx, st, ops) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
}

// checkIndexes compares the incrementally kept login and intent indexes
// with those a full rebuild computes from the same entries.
func checkIndexes(t *testing.T, p *Provider, step string) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.loginMu.RLock()
	gotLogins := maps.Clone(p.logins)
	p.loginMu.RUnlock()
	gotIntents := maps.Clone(*p.intents.Load())
	p.rebuildIndexesLocked(0)
	p.loginMu.RLock()
	wantLogins := maps.Clone(p.logins)
	p.loginMu.RUnlock()
	wantIntents := *p.intents.Load()
	if !maps.Equal(gotLogins, wantLogins) {
		t.Fatalf("%s: login index %v, a rebuild gives %v", step, gotLogins, wantLogins)
	}
	if !maps.Equal(gotIntents, wantIntents) {
		t.Fatalf("%s: intent index %v, a rebuild gives %v", step, gotIntents, wantIntents)
	}
}

// The login and intent indexes are kept by difference (reindexLocked), not
// rebuilt on each change (issue 21): after every step of a random sequence
// of the operations that change them — new grants, logins renamed by
// another process, intents set, moved and cleared, users removed, reloads —
// they equal what a full rebuild computes.
func TestIndexesKeptByDifferenceMatchARebuild(t *testing.T) {
	for seed := range uint64(6) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { indexSequence(t, seed) })
	}
}

func indexSequence(t *testing.T, seed uint64) {
	ctx := context.Background()
	st := store.NewMemory()
	seedGrants(t, st, 0, 20)
	p, err := New(ctx, Config{OAuth: &twitchauth.Config{ClientID: indexClient}, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	checkIndexes(t, p, "load")
	rng := rand.New(rand.NewPCG(seed, 2))
	next := 20
	intents := []string{"chat", "broadcaster", "mod"}
	user := func() string { return fmt.Sprint(1000000 + rng.IntN(next)) }
	for step := range 400 {
		var what string
		switch op := rng.IntN(7); op {
		case 0: // a grant another process added, seen through its change notice
			seedGrants(t, st, next, 1)
			key := store.GrantKey(indexClient, store.UserKey(fmt.Sprint(1000000+next)))
			next++
			p.reloadKey(ctx, key)
			what = "added " + key
		case 1: // another process renamed a login (Twitch logins can change)
			id := user()
			key := store.GrantKey(indexClient, store.UserKey(id))
			r, err := st.Load(ctx, key)
			if err != nil {
				continue
			}
			r.Login = fmt.Sprintf("renamed%d", step)
			if rng.IntN(3) == 0 {
				r.Login = "user" + user() // a login another held grant had
			}
			if _, err := st.Save(ctx, r, r.Version); err != nil {
				t.Fatal(err)
			}
			p.reloadKey(ctx, key)
			what = "renamed " + id + " to " + r.Login
		case 2:
			in, id := intents[rng.IntN(len(intents))], user()
			if err := p.SetIntent(ctx, in, id); err != nil && !errors.Is(err, ErrUnknownSubject) {
				t.Fatal(err)
			}
			what = "intent " + in + " → " + id
		case 3:
			in := intents[rng.IntN(len(intents))]
			cur := p.Intents()[in]
			if err := p.SetIntentIf(ctx, in, cur, ""); err != nil {
				t.Fatal(err)
			}
			what = "cleared intent " + in
		case 4:
			id := user()
			_ = p.RemoveUser(ctx, id, false)
			what = "removed " + id
		case 5: // another process claimed an intent for a second record
			id := user()
			key := store.GrantKey(indexClient, store.UserKey(id))
			r, err := st.Load(ctx, key)
			if err != nil {
				continue
			}
			in := intents[rng.IntN(len(intents))]
			if !slices.Contains(r.Intents, in) {
				r.Intents = append(r.Intents, in)
			}
			if _, err := st.Save(ctx, r, r.Version); err != nil {
				t.Fatal(err)
			}
			p.reloadKey(ctx, key)
			what = "second claim of " + in + " by " + id
		case 6:
			if err := p.Reload(ctx); err != nil {
				t.Fatal(err)
			}
			what = "reload"
		}
		checkIndexes(t, p, fmt.Sprintf("step %d (%s)", step, what))
	}
}

// Concurrent publishes of one subject leave the indexes on its current
// entry, whichever publisher takes the lock last.
func TestIndexesFollowConcurrentPublishes(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	seedGrants(t, st, 0, 4)
	p, err := New(ctx, Config{OAuth: &twitchauth.Config{ClientID: indexClient}, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	s := p.lookup(store.UserKey("1000000"))
	base := s.cur.Load().g.record(p.storeKey(s.key))
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 200 {
				r := base
				r.Version = base.Version + int64(w*1000+i)
				r.Login = fmt.Sprintf("w%d-%d", w, i%3)
				p.publish(s, p.newEntry(r, false))
			}
		})
	}
	wg.Wait()
	checkIndexes(t, p, "after concurrent publishes")
	if id, ok := p.LookupLogin(s.cur.Load().g.login); !ok || id != "1000000" {
		t.Fatalf("LookupLogin(current login) = %q, %v", id, ok)
	}
}

// heapAfterGC returns the live heap after a full collection.
func heapAfterGC() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// A cached grant is compact (issue 21: 100,000 grants in ≤ 150 MB of RSS):
// what the Provider holds per grant loaded from SQLite (which holds no
// record in Go memory) stays within a budget. The v0 cache held a full
// store.Record per grant (320 bytes with the entry), the row's store key, a
// scope list of its own and a copy-on-write map: 628 bytes here.
func TestCachedGrantFootprint(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 20,000 grants")
	}
	const n, budget = 20000, 560
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "grants.db"), sqlite.Config{Key: store.KeyConfig{Key: make([]byte, store.KeySize)}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	seedGrants(t, st, 0, n)
	before := heapAfterGC()
	p, err := New(ctx, Config{OAuth: &twitchauth.Config{ClientID: indexClient}, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	after := heapAfterGC()
	perGrant := float64(int64(after)-int64(before)) / n
	runtime.KeepAlive(p)
	t.Logf("%.0f bytes per cached grant (budget %d)", perGrant, budget)
	if perGrant > budget {
		t.Errorf("the Provider holds %.0f bytes per grant, budget %d", perGrant, budget)
	}
}

// Adding a grant costs the same at 20,000 grants as at 20 (issue 21: a
// copy-on-write subject map and a rebuild of both indexes copied every
// grant's entry for each user who logged in). Measured in bytes allocated
// per added grant, not in time.
func TestAddingAGrantCostIsFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 20,000 grants")
	}
	perAdd := func(held int) float64 {
		ctx := context.Background()
		st := store.NewMemory()
		seedGrants(t, st, 0, held)
		p, err := New(ctx, Config{OAuth: &twitchauth.Config{ClientID: indexClient}, Store: st})
		if err != nil {
			t.Fatal(err)
		}
		const adds = 50
		seedGrants(t, st, held, adds)
		var keys []string
		for i := held; i < held+adds; i++ {
			keys = append(keys, store.GrantKey(indexClient, store.UserKey(fmt.Sprint(1000000+i))))
		}
		var a, b runtime.MemStats
		runtime.ReadMemStats(&a)
		for _, k := range keys {
			p.reloadKey(ctx, k)
		}
		runtime.ReadMemStats(&b)
		if got := p.UserCount(); got != held+adds {
			t.Fatalf("UserCount = %d, want %d", got, held+adds)
		}
		return float64(b.TotalAlloc-a.TotalAlloc) / adds
	}
	small, large := perAdd(20), perAdd(20000)
	t.Logf("bytes allocated per added grant: %.0f at 20 grants, %.0f at 20,000", small, large)
	if large > 2*small+1024 {
		t.Errorf("adding a grant to 20,000 allocates %.0f bytes, to 20 %.0f: the cost grows with the grants held", large, small)
	}
}
