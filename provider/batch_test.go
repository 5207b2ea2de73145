package provider_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth/provider"
	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/twitchtest"
)

// countingStore counts the writes reaching a memory store; fail makes
// SaveBatch fail with a store error.
type countingStore struct {
	*store.Memory
	saves, batches, batched atomic.Int64
	loads                   atomic.Int64
	fail                    atomic.Bool
}

func (c *countingStore) Save(ctx context.Context, rec store.Record, v int64) (store.Record, error) {
	c.saves.Add(1)
	return c.Memory.Save(ctx, rec, v)
}

func (c *countingStore) Load(ctx context.Context, key string) (store.Record, error) {
	c.loads.Add(1)
	return c.Memory.Load(ctx, key)
}

func (c *countingStore) SaveBatch(ctx context.Context, ops []store.SaveOp) []store.SaveResult {
	c.batches.Add(1)
	c.batched.Add(int64(len(ops)))
	if c.fail.Load() {
		return store.FailAll(len(ops), errors.New("disk full"))
	}
	return c.Memory.SaveBatch(ctx, ops)
}

func (c *countingStore) reset() {
	c.saves.Store(0)
	c.batches.Store(0)
	c.batched.Store(0)
	c.loads.Store(0)
}

// A validation round of 1,200 grants writes its results in batches of at
// most 512 (3 batches), with no Save and no Load per grant, and every
// grant's LastValidated is stored when ValidateAll returns.
func TestValidationRoundBatchesWrites(t *testing.T) {
	const n = 1200
	s := newSandbox(t)
	cfg := confidential(s)
	st := &countingStore{Memory: store.NewMemory()}
	p := newProvider(t, cfg, withStore(st))
	for i := range n {
		u, err := s.AddUser(twitchtest.User{ID: fmt.Sprint(800_000_000 + i), Login: fmt.Sprintf("batchuser%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		provUser(t, s, p, cfg.ClientID, u.Login, []string{"chat:read"})
	}
	st.reset()
	start := time.Now().Add(-time.Second)
	res := p.ValidateAll(ctx(t))
	if len(res) != n {
		t.Fatalf("%d results for %d grants", len(res), n)
	}
	for _, r := range res {
		if !r.Valid || r.Err != nil {
			t.Fatalf("%+v", r)
		}
	}
	if st.saves.Load() != 0 || st.loads.Load() != 0 || st.batches.Load() != 3 || st.batched.Load() != n {
		t.Errorf("a round of %d grants made %d Saves, %d Loads and %d batches of %d records in all; want 0, 0 and 3 of %d",
			n, st.saves.Load(), st.loads.Load(), st.batches.Load(), st.batched.Load(), n)
	}
	recs, err := st.List(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.LastValidated.Before(start) {
			t.Fatalf("%s: LastValidated %v not stored by the round", r.Key, r.LastValidated)
		}
	}
	// The cache holds the saved records: the next round's ops expect the
	// versions the batches produced (no conflicts, so no Load again).
	st.reset()
	p.ValidateAll(ctx(t))
	if st.loads.Load() != 0 || st.saves.Load() != 0 {
		t.Errorf("second round: %d Loads and %d Saves (conflicts on stale versions?)", st.loads.Load(), st.saves.Load())
	}
}

// A record changed in the store behind the Provider's back (another
// process) makes its batched op conflict; the write is redone on the stored
// record, keeping the other process's change and the rotated token it
// holds, and stamping LastValidated.
func TestValidationBatchConflictRedone(t *testing.T) {
	s := newSandbox(t)
	cfg := confidential(s)
	st := &countingStore{Memory: store.NewMemory()}
	p := newProvider(t, cfg, withStore(st))
	a := provUser(t, s, p, cfg.ClientID, "twitchdev", []string{"chat:read"})
	key := store.GrantKey(cfg.ClientID, provider.User(a.UserID).String())
	rec, err := st.Load(ctx(t), key)
	if err != nil {
		t.Fatal(err)
	}
	rec.Intents = []string{"elsewhere"}
	rec.RefreshToken = "rotated-by-another-process"
	other, err := st.Memory.Save(ctx(t), rec, rec.Version)
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(-time.Second)
	if r := p.ValidateAll(ctx(t)); len(r) != 1 || !r[0].Valid {
		t.Fatalf("%+v", r)
	}
	got, err := st.Load(ctx(t), key)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version <= other.Version || got.LastValidated.Before(before) {
		t.Errorf("after a conflict the result was not written again: version %d (other's %d), LastValidated %v", got.Version, other.Version, got.LastValidated)
	}
	if got.RefreshToken != "rotated-by-another-process" || len(got.Intents) != 1 {
		t.Errorf("the redone write lost the other process's change: refresh token kept %v, intents %v",
			got.RefreshToken == "rotated-by-another-process", got.Intents)
	}
}

// A batch the store refuses leaves the grants as they were, in the store
// and in the cache: the tokens are still served, and the round reports
// the tokens valid (the write failure is logged, as before batching).
func TestValidationBatchFailureKeepsGrants(t *testing.T) {
	s := newSandbox(t)
	cfg := confidential(s)
	st := &countingStore{Memory: store.NewMemory()}
	p := newProvider(t, cfg, withStore(st))
	a := provUser(t, s, p, cfg.ClientID, "twitchdev", []string{"chat:read"})
	key := store.GrantKey(cfg.ClientID, provider.User(a.UserID).String())
	was, _ := st.Load(ctx(t), key)
	st.fail.Store(true)
	if r := p.ValidateAll(ctx(t)); len(r) != 1 || !r[0].Valid {
		t.Fatalf("%+v", r)
	}
	if st.batches.Load() != 1 {
		t.Fatalf("%d batches", st.batches.Load())
	}
	now, _ := st.Load(ctx(t), key)
	if now.Version != was.Version {
		t.Errorf("a failed batch changed the stored record (version %d → %d)", was.Version, now.Version)
	}
	tok, err := p.Token(ctx(t), provider.User(a.UserID))
	if err != nil || tok.AccessToken != a.AccessToken {
		t.Fatalf("after a failed batch: %v (same token: %v)", err, err == nil && tok.AccessToken == a.AccessToken)
	}
	// The next round, with the store back, writes on the same version.
	st.fail.Store(false)
	st.reset()
	p.ValidateAll(ctx(t))
	if now, _ := st.Load(ctx(t), key); now.Version <= was.Version || st.saves.Load() != 0 {
		t.Errorf("next round: version %d (was %d), %d Saves", now.Version, was.Version, st.saves.Load())
	}
}
