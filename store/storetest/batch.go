package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/twitchauth/twitchauth/store"
)

// batchTests are the contract of store.BatchSaver, run by Run for stores
// that implement it (and skipped for the others).
var batchTests = []struct {
	name string
	fn   func(t *testing.T, s store.BatchSaver, st store.Store)
}{
	{"BatchCreatesEveryRecord", testBatchCreates},
	{"BatchUpdatesWithCAS", testBatchMixed},
	{"BatchEmpty", testBatchEmpty},
	{"BatchCanceledContext", testBatchCanceled},
	{"BatchVersionsNeverReused", testBatchVersions},
}

func runBatch(t *testing.T, name string, fn func(*testing.T, store.BatchSaver, store.Store), newStore func(t *testing.T) store.Store) {
	t.Run(name, func(t *testing.T) {
		st := newStore(t)
		b, ok := st.(store.BatchSaver)
		if !ok {
			t.Skipf("%T is not a store.BatchSaver", st)
		}
		fn(t, b, st)
	})
}

// 700 records in one batch (more than one batch of the Provider's): each
// result is the saved record, and each can be loaded and listed.
func testBatchCreates(t *testing.T, b store.BatchSaver, s store.Store) {
	const n = 700
	ops := make([]store.SaveOp, n)
	for i := range ops {
		ops[i] = store.SaveOp{Record: Sample(store.UserKey(fmt.Sprintf("batch%04d", i)))}
	}
	res := b.SaveBatch(ctx(t), ops)
	if len(res) != n {
		t.Fatalf("SaveBatch returned %d results for %d ops", len(res), n)
	}
	seen := map[int64]bool{}
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("op %d (%q): %v", i, ops[i].Record.Key, r.Err)
		}
		if r.Record.Version <= 0 || seen[r.Record.Version] {
			t.Fatalf("op %d: version %d is not positive and unique", i, r.Record.Version)
		}
		seen[r.Record.Version] = true
		if r.Record.UpdatedAt.IsZero() {
			t.Errorf("op %d: UpdatedAt not set", i)
		}
		want := ops[i].Record.Normalize()
		want.Version, want.UpdatedAt = r.Record.Version, r.Record.UpdatedAt
		checkEqual(t, fmt.Sprintf("result %d", i), r.Record, want)
		checkEqual(t, fmt.Sprintf("Load of op %d", i), mustLoad(t, s, ops[i].Record.Key), r.Record)
	}
	list, err := s.List(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != n {
		t.Fatalf("List has %d records after a batch of %d", len(list), n)
	}
}

// Ops are independent: a stale version, a create of an existing key and an
// invalid record fail alone, with the errors Save gives; the others are
// written, and the failed ones are left as they were.
func testBatchMixed(t *testing.T, b store.BatchSaver, s store.Store) {
	a := mustSave(t, s, Sample(store.UserKey("a")), 0)
	bb := mustSave(t, s, Sample(store.UserKey("b")), 0)
	c := mustSave(t, s, Sample(store.UserKey("c")), 0)
	upd := func(r store.Record, login string) store.Record { r.Login = login; return r }
	invalid := Sample(store.UserKey("d"))
	invalid.Status = "sleeping"
	ops := []store.SaveOp{
		{Record: upd(a, "a2"), ExpectVersion: a.Version},                 // ok
		{Record: upd(bb, "b2"), ExpectVersion: bb.Version + 100},         // stale
		{Record: upd(c, "c2"), ExpectVersion: 0},                         // c exists
		{Record: invalid, ExpectVersion: 0},                              // invalid
		{Record: Sample(store.UserKey("e")), ExpectVersion: 0},           // ok, new
		{Record: upd(Sample(store.UserKey("f")), "f"), ExpectVersion: 7}, // absent
	}
	res := b.SaveBatch(ctx(t), ops)
	if len(res) != len(ops) {
		t.Fatalf("SaveBatch returned %d results for %d ops", len(res), len(ops))
	}
	if res[0].Err != nil || res[0].Record.Login != "a2" || res[0].Record.Version <= a.Version {
		t.Errorf("op 0 = %+v, %v; want saved with a higher version", res[0].Record.Version, res[0].Err)
	}
	checkConflict(t, res[1].Err, bb.Key, bb.Version+100, bb.Version)
	checkConflict(t, res[2].Err, c.Key, 0, c.Version)
	if !errors.Is(res[3].Err, store.ErrInvalidRecord) {
		t.Errorf("op 3 (invalid status): %v, want ErrInvalidRecord", res[3].Err)
	}
	if res[4].Err != nil || res[4].Record.Version <= 0 {
		t.Errorf("op 4 (create) = %v", res[4].Err)
	}
	checkConflict(t, res[5].Err, store.UserKey("f"), 7, 0)
	checkEqual(t, "a after the batch", mustLoad(t, s, a.Key), res[0].Record)
	checkEqual(t, "b after its conflict", mustLoad(t, s, bb.Key), bb)
	checkEqual(t, "c after its conflict", mustLoad(t, s, c.Key), c)
	checkEqual(t, "e after the batch", mustLoad(t, s, res[4].Record.Key), res[4].Record)
	for _, k := range []string{invalid.Key, store.UserKey("f")} {
		if _, err := s.Load(ctx(t), k); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Load(%q) after a failed op = %v, want ErrNotFound", k, err)
		}
	}
}

func testBatchEmpty(t *testing.T, b store.BatchSaver, s store.Store) {
	if res := b.SaveBatch(ctx(t), nil); len(res) != 0 {
		t.Errorf("SaveBatch(nil) = %d results", len(res))
	}
}

// A canceled context fails every op and writes nothing.
func testBatchCanceled(t *testing.T, b store.BatchSaver, s store.Store) {
	saved := mustSave(t, s, Sample(store.UserKey("x")), 0)
	c, cancel := context.WithCancel(ctx(t))
	cancel()
	upd := saved
	upd.AccessToken = "must-not-be-written"
	res := b.SaveBatch(c, []store.SaveOp{{Record: upd, ExpectVersion: saved.Version}, {Record: Sample(store.UserKey("y"))}})
	for i, r := range res {
		if !errors.Is(r.Err, context.Canceled) {
			t.Errorf("op %d with a canceled context: %v, want context.Canceled", i, r.Err)
		}
	}
	checkEqual(t, "record after a canceled batch", mustLoad(t, s, saved.Key), saved)
	if _, err := s.Load(ctx(t), store.UserKey("y")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a canceled batch created a record: %v", err)
	}
}

// Versions from batches increase past every earlier Save and are never
// reused, conflicting ops included; Save after a batch goes higher still.
func testBatchVersions(t *testing.T, b store.BatchSaver, s store.Store) {
	first := mustSave(t, s, Sample(store.UserKey("v1")), 0)
	res := b.SaveBatch(ctx(t), []store.SaveOp{
		{Record: first, ExpectVersion: first.Version + 1}, // conflict
		{Record: first, ExpectVersion: first.Version},
		{Record: Sample(store.UserKey("v2"))},
	})
	var top int64
	for i, r := range res[1:] {
		if r.Err != nil {
			t.Fatalf("op %d: %v", i+1, r.Err)
		}
		if r.Record.Version <= first.Version {
			t.Errorf("op %d: version %d not above the earlier %d", i+1, r.Record.Version, first.Version)
		}
		top = max(top, r.Record.Version)
	}
	if res[1].Record.Version == res[2].Record.Version {
		t.Errorf("two ops of a batch got version %d", res[1].Record.Version)
	}
	after := mustSave(t, s, Sample(store.UserKey("v3")), 0)
	if after.Version <= top {
		t.Errorf("Save after a batch got version %d, not above the batch's %d", after.Version, top)
	}
}

// testWalk: for a store.Walker, Walk hands out exactly what List returns, in
// the same order, each record a copy of its own; fn's error stops it.
func testWalk(t *testing.T, s store.Store) {
	w, ok := s.(store.Walker)
	if !ok {
		t.Skipf("%T is not a store.Walker", s)
	}
	for i := range 30 {
		r := Sample(store.UserKey(fmt.Sprintf("walk%02d", (i*7)%30)))
		mustSave(t, s, r, 0)
	}
	list, err := s.List(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	var got []store.Record
	if err := w.Walk(ctx(t), func(r store.Record) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(list) {
		t.Fatalf("Walk gave %d records, List %d", len(got), len(list))
	}
	for i := range got {
		checkEqual(t, fmt.Sprintf("record %d of Walk", i), got[i], list[i])
	}
	got[0].Scopes[0] = "changed"
	if got[1].Scopes[0] == "changed" {
		t.Errorf("two records of a walk share their Scopes")
	}
	stop := errors.New("stop")
	n := 0
	if err := w.Walk(ctx(t), func(store.Record) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Errorf("Walk with fn failing: %v after %d calls, want stop after 1", err, n)
	}
}
