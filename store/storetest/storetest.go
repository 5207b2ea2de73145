package storetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth/store"
)

// Run runs the contract suite. newStore must return a new, empty store each
// time it is called, and arrange (with t.Cleanup) to release it. If the store
// is an io.Closer the suite also checks its behaviour after Close.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"LoadNotFound", testLoadNotFound},
		{"CreateAndLoad", testCreateAndLoad},
		{"CreateTwiceConflicts", testCreateTwiceConflicts},
		{"UpdateWithRightVersion", testUpdateRightVersion},
		{"UpdateWithWrongVersion", testUpdateWrongVersion},
		{"UpdateAbsentConflicts", testUpdateAbsent},
		{"VersionIncreases", testVersionIncreases},
		{"IgnoresInputVersionAndUpdatedAt", testIgnoresInputVersion},
		{"DeleteThenLoad", testDeleteThenLoad},
		{"DeleteAbsent", testDeleteAbsent},
		{"RecreateAfterDeleteNeverReusesVersion", testRecreateAfterDelete},
		{"ListSortedByKey", testListSorted},
		{"ListEmpty", testListEmpty},
		{"DeepCopy", testDeepCopy},
		{"NilAndEmptyLists", testNilAndEmptyLists},
		{"TimeRoundTrip", testTimeRoundTrip},
		{"AllFieldsRoundTrip", testAllFields},
		{"LargeScopes", testLargeScopes},
		{"Unicode", testUnicode},
		{"InvalidRecords", testInvalid},
		{"CanceledContext", testCanceledContext},
		{"ConcurrentCAS", testConcurrentCAS},
		{"Close", testClose},
		{"WalkMatchesList", testWalk},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, newStore(t))
		})
	}
	for _, tt := range batchTests {
		runBatch(t, tt.name, tt.fn, newStore)
	}
	for _, tt := range claimTests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			c, ok := s.(store.ValidationClaimer)
			if !ok {
				t.Skip("the store is not a store.ValidationClaimer")
			}
			tt.fn(t, s, c)
		})
	}
}

// Sample returns a fully populated record for key, for tests.
func Sample(key string) store.Record {
	return store.Record{
		Key:           key,
		ClientID:      "hof5gwx0su6owfnys0yan9c87zr6t",
		UserID:        "141981764",
		Login:         "twitchdev",
		AccessToken:   "access-" + key + "-rfx2uswqe8l4g1mkagrvg5tv0ks3",
		RefreshToken:  "refresh-" + key + "-5b93chm6hdve3mycz05zfzatkfdenfspp1h1ar2xxdalen01",
		TokenType:     "bearer",
		Scopes:        []string{"channel:moderate", "chat:edit", "chat:read"},
		Expiry:        time.Date(2031, 3, 4, 5, 6, 7, 123456000, time.UTC),
		Intents:       []string{"chat"},
		Status:        store.StatusActive,
		LastValidated: time.Date(2031, 3, 4, 4, 6, 7, 654321000, time.UTC),
	}
}

func ctx(t *testing.T) context.Context { return t.Context() }

func mustSave(t *testing.T, s store.Store, rec store.Record, expect int64) store.Record {
	t.Helper()
	got, err := s.Save(ctx(t), rec, expect)
	if err != nil {
		t.Fatalf("Save(%q, expect %d): %v", rec.Key, expect, err)
	}
	return got
}

func mustLoad(t *testing.T, s store.Store, key string) store.Record {
	t.Helper()
	got, err := s.Load(ctx(t), key)
	if err != nil {
		t.Fatalf("Load(%q): %v", key, err)
	}
	return got
}

// diff describes how got differs from want, field by field; "" if equal.
// Times must be equal instants and in UTC; slices must be equal including
// nil-ness.
func diff(got, want store.Record) string {
	var b strings.Builder
	gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := range gv.NumField() {
		name := gv.Type().Field(i).Name
		g, w := gv.Field(i).Interface(), wv.Field(i).Interface()
		switch g := g.(type) {
		case time.Time:
			w := w.(time.Time)
			if !g.Equal(w) || g.Location() != time.UTC || g.IsZero() != w.IsZero() {
				fmt.Fprintf(&b, "\n  %s: got %v, want %v", name, g, w)
			}
		case []string:
			w := w.([]string)
			if !slices.Equal(g, w) || (g == nil) != (w == nil) {
				fmt.Fprintf(&b, "\n  %s: got %#v, want %#v", name, g, w)
			}
		default:
			if g != w {
				fmt.Fprintf(&b, "\n  %s: got %#v, want %#v", name, g, w)
			}
		}
	}
	return b.String()
}

func checkEqual(t *testing.T, what string, got, want store.Record) {
	t.Helper()
	if d := diff(got, want); d != "" {
		t.Errorf("%s differs:%s", what, d)
	}
}

func checkConflict(t *testing.T, err error, key string, expected, current int64) {
	t.Helper()
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("error = %v, want ErrConflict", err)
	}
	var ce *store.ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v is not a *store.ConflictError", err)
	}
	if ce.Key != key || ce.Expected != expected || ce.Current != current {
		t.Errorf("ConflictError = {Key:%q Expected:%d Current:%d}, want {Key:%q Expected:%d Current:%d}",
			ce.Key, ce.Expected, ce.Current, key, expected, current)
	}
}

func testLoadNotFound(t *testing.T, s store.Store) {
	_, err := s.Load(ctx(t), store.UserKey("404"))
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Load(absent) error = %v, want ErrNotFound", err)
	}
}

func testCreateAndLoad(t *testing.T, s store.Store) {
	in := Sample(store.UserKey("141981764"))
	before := time.Now().Add(-time.Second)
	saved := mustSave(t, s, in, 0)
	after := time.Now().Add(time.Second)
	if saved.Version <= 0 {
		t.Errorf("saved Version = %d, want > 0", saved.Version)
	}
	if saved.UpdatedAt.Before(before) || saved.UpdatedAt.After(after) {
		t.Errorf("saved UpdatedAt = %v, want about now", saved.UpdatedAt)
	}
	want := in
	want.Version, want.UpdatedAt = saved.Version, saved.UpdatedAt
	checkEqual(t, "Save result", saved, want)
	checkEqual(t, "Load result", mustLoad(t, s, in.Key), want)
}

func testCreateTwiceConflicts(t *testing.T, s store.Store) {
	key := store.AppKey()
	first := mustSave(t, s, Sample(key), 0)
	second := Sample(key)
	second.AccessToken = "second"
	_, err := s.Save(ctx(t), second, 0)
	checkConflict(t, err, key, 0, first.Version)
	checkEqual(t, "record after refused create", mustLoad(t, s, key), first)
}

func testUpdateRightVersion(t *testing.T, s store.Store) {
	key := store.UserKey("1")
	v1 := mustSave(t, s, Sample(key), 0)
	upd := v1
	upd.AccessToken, upd.RefreshToken = "rotated-access", "rotated-refresh"
	upd.Scopes = []string{"chat:read"}
	v2 := mustSave(t, s, upd, v1.Version)
	if v2.AccessToken != "rotated-access" || v2.RefreshToken != "rotated-refresh" {
		t.Errorf("Save result has tokens %q/%q, want the rotated ones", v2.AccessToken, v2.RefreshToken)
	}
	checkEqual(t, "Load after update", mustLoad(t, s, key), v2)
}

func testUpdateWrongVersion(t *testing.T, s store.Store) {
	key := store.UserKey("1")
	v1 := mustSave(t, s, Sample(key), 0)
	upd := v1
	upd.AccessToken = "lost-update"
	for _, wrong := range []int64{v1.Version + 1, v1.Version - 1, v1.Version + 1000} {
		_, err := s.Save(ctx(t), upd, wrong)
		checkConflict(t, err, key, wrong, v1.Version)
	}
	checkEqual(t, "record after refused updates", mustLoad(t, s, key), v1)
}

func testUpdateAbsent(t *testing.T, s store.Store) {
	_, err := s.Save(ctx(t), Sample("user:absent"), 3)
	checkConflict(t, err, "user:absent", 3, 0)
	if _, err := s.Load(ctx(t), "user:absent"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Load after refused update: %v, want ErrNotFound", err)
	}
}

func testVersionIncreases(t *testing.T, s store.Store) {
	key := store.UserKey("7")
	rec := mustSave(t, s, Sample(key), 0)
	// Saving another key in between must not break per-key monotonicity.
	mustSave(t, s, Sample(store.UserKey("8")), 0)
	for i := range 5 {
		prev := rec.Version
		rec.Login = fmt.Sprintf("login%d", i)
		rec = mustSave(t, s, rec, prev)
		if rec.Version <= prev {
			t.Fatalf("save %d: Version %d does not increase on %d", i, rec.Version, prev)
		}
		if got := mustLoad(t, s, key); got.Version != rec.Version || got.Login != rec.Login {
			t.Fatalf("save %d: Load = version %d login %q, want %d %q", i, got.Version, got.Login, rec.Version, rec.Login)
		}
	}
}

func testIgnoresInputVersion(t *testing.T, s store.Store) {
	in := Sample(store.AppKey())
	in.Version = 99
	in.UpdatedAt = time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	saved := mustSave(t, s, in, 0)
	if saved.Version == 99 {
		t.Errorf("Save used the record's Version field instead of assigning one")
	}
	if saved.UpdatedAt.Year() == 2001 {
		t.Errorf("Save kept the caller's UpdatedAt %v instead of setting it", saved.UpdatedAt)
	}
}

func testDeleteThenLoad(t *testing.T, s store.Store) {
	key := store.UserKey("9")
	mustSave(t, s, Sample(key), 0)
	other := mustSave(t, s, Sample(store.UserKey("10")), 0)
	if err := s.Delete(ctx(t), key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Load(ctx(t), key); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Load after Delete: %v, want ErrNotFound", err)
	}
	checkEqual(t, "other record after Delete", mustLoad(t, s, other.Key), other)
	list, err := s.List(ctx(t))
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(list) != 1 || list[0].Key != other.Key {
		t.Fatalf("List after Delete has %d records, want only %q", len(list), other.Key)
	}
}

func testDeleteAbsent(t *testing.T, s store.Store) {
	if err := s.Delete(ctx(t), "user:never"); err != nil {
		t.Fatalf("Delete(absent) = %v, want nil", err)
	}
	mustSave(t, s, Sample("user:twice"), 0)
	for range 2 {
		if err := s.Delete(ctx(t), "user:twice"); err != nil {
			t.Fatalf("Delete = %v, want nil", err)
		}
	}
}

// A reader that loaded version v before a Delete must not be able to
// overwrite a record created afterwards (the ABA problem).
func testRecreateAfterDelete(t *testing.T, s store.Store) {
	key := store.UserKey("42")
	old := mustSave(t, s, Sample(key), 0)
	if err := s.Delete(ctx(t), key); err != nil {
		t.Fatal(err)
	}
	recreated := mustSave(t, s, Sample(key), 0)
	if recreated.Version <= old.Version {
		t.Fatalf("recreated Version %d is not above the deleted record's %d", recreated.Version, old.Version)
	}
	stale := old
	stale.AccessToken = "stale"
	_, err := s.Save(ctx(t), stale, old.Version)
	checkConflict(t, err, key, old.Version, recreated.Version)
}

func testListSorted(t *testing.T, s store.Store) {
	keys := []string{"user:3", "app", "user:10", "user:2", "user:ä", "user:Z", "user:1"}
	for _, k := range keys {
		mustSave(t, s, Sample(k), 0)
	}
	list, err := s.List(ctx(t))
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	got := make([]string, len(list))
	for i, r := range list {
		got[i] = r.Key
		checkEqual(t, "listed "+r.Key, r, mustLoad(t, s, r.Key))
	}
	want := slices.Clone(keys)
	slices.Sort(want) // byte order
	if !slices.Equal(got, want) {
		t.Fatalf("List keys = %q, want %q", got, want)
	}
}

func testListEmpty(t *testing.T, s store.Store) {
	list, err := s.List(ctx(t))
	if err != nil || len(list) != 0 {
		t.Fatalf("List on empty store = %v, %v; want no records", list, err)
	}
}

func testDeepCopy(t *testing.T, s store.Store) {
	key := store.UserKey("5")
	in := Sample(key)
	saved := mustSave(t, s, in, 0)
	want := saved.Clone()

	// Mutating the input after Save.
	in.Scopes[0], in.Intents[0] = "mutated-in", "mutated-in"
	// Mutating the Save result.
	saved.Scopes[0], saved.Intents[0] = "mutated-saved", "mutated-saved"
	// Mutating a Load result.
	loaded := mustLoad(t, s, key)
	loaded.Scopes[1], loaded.Intents[0] = "mutated-loaded", "mutated-loaded"
	loaded.Scopes = append(loaded.Scopes[:1], "appended")
	// Mutating a List result.
	list, err := s.List(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	list[0].Scopes[2], list[0].Intents[0] = "mutated-list", "mutated-list"

	checkEqual(t, "stored record after mutating copies", mustLoad(t, s, key), want)

	// Two loads must not share memory either.
	a, b := mustLoad(t, s, key), mustLoad(t, s, key)
	a.Scopes[0] = "changed"
	if b.Scopes[0] == "changed" {
		t.Fatal("two Load results share their Scopes slice")
	}
}

func testNilAndEmptyLists(t *testing.T, s store.Store) {
	for i, tc := range []struct {
		scopes, intents []string
	}{
		{nil, nil},
		{[]string{}, []string{}},
		{make([]string, 0, 8), nil},
	} {
		rec := Sample(fmt.Sprintf("user:empty%d", i))
		rec.Scopes, rec.Intents = tc.scopes, tc.intents
		saved := mustSave(t, s, rec, 0)
		loaded := mustLoad(t, s, rec.Key)
		for what, r := range map[string]store.Record{"Save": saved, "Load": loaded} {
			if r.Scopes != nil || r.Intents != nil {
				t.Errorf("case %d: %s returned Scopes %#v Intents %#v; empty lists must come back nil", i, what, r.Scopes, r.Intents)
			}
		}
	}
	// An empty string is a value, not an absence.
	rec := Sample("user:emptystring")
	rec.Scopes = []string{""}
	if got := mustSave(t, s, rec, 0); !slices.Equal(got.Scopes, []string{""}) {
		t.Errorf("Scopes [\"\"] came back as %#v", got.Scopes)
	}
	if got := mustLoad(t, s, rec.Key); !slices.Equal(got.Scopes, []string{""}) {
		t.Errorf("Scopes [\"\"] loaded as %#v", got.Scopes)
	}
}

func testTimeRoundTrip(t *testing.T, s store.Store) {
	berlin := time.FixedZone("CEST", 2*60*60)
	for i, in := range []time.Time{
		time.Now(), // has a monotonic reading
		time.Date(2030, 12, 31, 23, 59, 59, 999999999, berlin),
		time.Date(2025, 1, 2, 3, 4, 5, 1000, time.UTC), // 1µs
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 500000000, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC),
		{}, // zero: unknown
	} {
		rec := Sample(fmt.Sprintf("user:time%d", i))
		rec.Expiry, rec.LastValidated = in, in
		want := store.NormalizeTime(in)
		for what, r := range map[string]store.Record{
			"Save": mustSave(t, s, rec, 0),
			"Load": mustLoad(t, s, rec.Key),
		} {
			for field, got := range map[string]time.Time{"Expiry": r.Expiry, "LastValidated": r.LastValidated} {
				if !got.Equal(want) || got.IsZero() != in.IsZero() {
					t.Errorf("case %d: %s %s = %v, want %v (from %v)", i, what, field, got, want, in)
				}
				if got.Location() != time.UTC {
					t.Errorf("case %d: %s %s location = %v, want UTC", i, what, field, got.Location())
				}
				if got != got.Round(0) {
					t.Errorf("case %d: %s %s carries a monotonic clock reading", i, what, field)
				}
				if !in.IsZero() && in.Sub(got).Abs() >= time.Millisecond {
					t.Errorf("case %d: %s %s lost sub-millisecond precision: %v vs %v", i, what, field, got, in)
				}
			}
			if r.UpdatedAt.Location() != time.UTC || r.UpdatedAt != r.UpdatedAt.Round(0) {
				t.Errorf("case %d: %s UpdatedAt %v is not UTC without monotonic reading", i, what, r.UpdatedAt)
			}
		}
	}
}

func testAllFields(t *testing.T, s store.Store) {
	// Each field set to a distinct value, so that a swapped column shows.
	in := store.Record{
		Key:           "user:allfields",
		ClientID:      "client",
		UserID:        "uid",
		Login:         "login",
		AccessToken:   "at",
		RefreshToken:  "rt",
		TokenType:     "tt",
		Scopes:        []string{"s1", "s2"},
		Expiry:        time.Date(2040, 1, 1, 0, 0, 0, 1000, time.UTC),
		Intents:       []string{"i1", "i2", "i3"},
		Status:        store.StatusDead,
		LastValidated: time.Date(2039, 1, 1, 0, 0, 0, 2000, time.UTC),
	}
	saved := mustSave(t, s, in, 0)
	want := in
	want.Version, want.UpdatedAt = saved.Version, saved.UpdatedAt
	checkEqual(t, "Save result", saved, want)
	checkEqual(t, "Load result", mustLoad(t, s, in.Key), want)

	// Zero record apart from the key: the app token before anything is known.
	bare := store.Record{Key: store.AppKey()}
	saved = mustSave(t, s, bare, 0)
	bare.Version, bare.UpdatedAt = saved.Version, saved.UpdatedAt
	checkEqual(t, "bare record", mustLoad(t, s, bare.Key), bare)

	for _, st := range []string{"", store.StatusActive, store.StatusRevoked, store.StatusDead} {
		rec := Sample("user:status-" + st)
		rec.Status = st
		if got := mustSave(t, s, rec, 0); got.Status != st {
			t.Errorf("Status %q saved as %q", st, got.Status)
		}
		if got := mustLoad(t, s, rec.Key); got.Status != st {
			t.Errorf("Status %q loaded as %q", st, got.Status)
		}
	}
}

func testLargeScopes(t *testing.T, s store.Store) {
	rec := Sample(store.UserKey("big"))
	rec.Scopes = nil
	for i := range 500 {
		rec.Scopes = append(rec.Scopes, fmt.Sprintf("scope:%03d:%s", i, strings.Repeat("x", i%40)))
	}
	rec.AccessToken = strings.Repeat("A", 8<<10)
	rec.RefreshToken = strings.Repeat("R", 8<<10)
	saved := mustSave(t, s, rec, 0)
	want := rec
	want.Version, want.UpdatedAt = saved.Version, saved.UpdatedAt
	checkEqual(t, "large record", mustLoad(t, s, rec.Key), want)
}

func testUnicode(t *testing.T, s store.Store) {
	key := store.UserKey("ユーザー😀")
	rec := Sample(key)
	rec.Login = "스트리머_ñandú_😀"
	rec.Scopes = []string{"chat:read", "\"quoted\",comma", "tab\there", "new\nline"}
	rec.Intents = []string{"чат", "🎥"}
	rec.AccessToken = "tök€n-☃"
	saved := mustSave(t, s, rec, 0)
	want := rec
	want.Version, want.UpdatedAt = saved.Version, saved.UpdatedAt
	checkEqual(t, "unicode record", mustLoad(t, s, key), want)
}

func testInvalid(t *testing.T, s store.Store) {
	for name, rec := range map[string]store.Record{
		"empty key":       {},
		"long key":        {Key: "user:" + strings.Repeat("9", store.MaxKeyLen)},
		"invalid UTF-8":   {Key: "user:\xff"},
		"control in key":  {Key: "user:1\n2"},
		"unknown status":  {Key: "user:1", Status: "zombie"},
		"NUL in scope":    {Key: "user:1", Scopes: []string{"chat\x00read"}},
		"bad UTF-8 login": {Key: "user:1", Login: "\xc3"},
		"NUL in intent":   {Key: "user:1", Intents: []string{"\x00"}},
		"year 10000":      {Key: "user:1", Expiry: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		"year 0":          {Key: "user:1", LastValidated: time.Date(0, 12, 31, 0, 0, 0, 0, time.UTC)},
		"negative expect": {Key: "user:neg"},
	} {
		expect := int64(0)
		if name == "negative expect" {
			expect = -1
		}
		if _, err := s.Save(ctx(t), rec, expect); !errors.Is(err, store.ErrInvalidRecord) {
			t.Errorf("%s: Save error = %v, want ErrInvalidRecord", name, err)
		}
	}
	list, err := s.List(ctx(t))
	if err != nil || len(list) != 0 {
		t.Fatalf("invalid saves left %d records (err %v)", len(list), err)
	}
}

func testCanceledContext(t *testing.T, s store.Store) {
	key := store.UserKey("ctx")
	saved := mustSave(t, s, Sample(key), 0)
	c, cancel := context.WithCancel(ctx(t))
	cancel()
	upd := saved
	upd.AccessToken = "must-not-be-written"
	if _, err := s.Save(c, upd, saved.Version); !errors.Is(err, context.Canceled) {
		t.Errorf("Save with canceled context = %v, want context.Canceled", err)
	}
	if _, err := s.Load(c, key); !errors.Is(err, context.Canceled) {
		t.Errorf("Load with canceled context = %v, want context.Canceled", err)
	}
	if _, err := s.List(c); !errors.Is(err, context.Canceled) {
		t.Errorf("List with canceled context = %v, want context.Canceled", err)
	}
	if err := s.Delete(c, key); !errors.Is(err, context.Canceled) {
		t.Errorf("Delete with canceled context = %v, want context.Canceled", err)
	}
	checkEqual(t, "record after canceled calls", mustLoad(t, s, key), saved)
}

// 50 goroutines race to update the same version; in every round exactly one
// must win and every loser must learn the winner's version.
func testConcurrentCAS(t *testing.T, s store.Store) {
	const workers, rounds = 50, 5
	key := store.UserKey("race")
	cur := mustSave(t, s, Sample(key), 0)
	for round := range rounds {
		var (
			start   = make(chan struct{})
			wg      sync.WaitGroup
			mu      sync.Mutex
			winners []store.Record
			losers  []error
			others  []error
		)
		for w := range workers {
			wg.Go(func() {
				rec := cur.Clone()
				rec.AccessToken = fmt.Sprintf("round%d-worker%d", round, w)
				<-start
				saved, err := s.Save(ctx(t), rec, cur.Version)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					winners = append(winners, saved)
				case errors.Is(err, store.ErrConflict):
					losers = append(losers, err)
				default:
					others = append(others, err)
				}
			})
		}
		close(start)
		wg.Wait()
		if len(others) > 0 {
			t.Fatalf("round %d: %d saves failed with unexpected errors, first: %v", round, len(others), others[0])
		}
		if len(winners) != 1 {
			t.Fatalf("round %d: %d winners, want exactly 1", round, len(winners))
		}
		win := winners[0]
		for _, err := range losers {
			var ce *store.ConflictError
			if !errors.As(err, &ce) || ce.Current != win.Version {
				t.Fatalf("round %d: loser error %v does not carry the winner's version %d", round, err, win.Version)
			}
		}
		got := mustLoad(t, s, key)
		checkEqual(t, fmt.Sprintf("round %d stored record", round), got, win)
		cur = got
	}
}

func testClose(t *testing.T, s store.Store) {
	c, ok := s.(io.Closer)
	if !ok {
		t.Skip("store is not an io.Closer")
	}
	mustSave(t, s, Sample("app"), 0)
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Load(ctx(t), "app"); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Load after Close = %v, want ErrClosed", err)
	}
	if _, err := s.Save(ctx(t), Sample("user:1"), 0); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Save after Close = %v, want ErrClosed", err)
	}
	if err := s.Delete(ctx(t), "app"); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Delete after Close = %v, want ErrClosed", err)
	}
	if _, err := s.List(ctx(t)); !errors.Is(err, store.ErrClosed) {
		t.Errorf("List after Close = %v, want ErrClosed", err)
	}
}
