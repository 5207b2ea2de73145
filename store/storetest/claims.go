package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth/store"
)

// claimTests check the store.ValidationClaimer contract; they skip for
// stores that do not implement it.
var claimTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store, c store.ValidationClaimer)
}{
	{"ClaimDueOrder", testClaimDueOrder},
	{"ClaimExclusiveUntilLeaseLapses", testClaimExclusive},
	{"ClaimConcurrentOwnersDisjoint", testClaimConcurrent},
	{"MarkValidatedMovesDueAndReleases", testMarkValidated},
	{"MarkByLateOwnerKeepsNewClaim", testMarkLateOwner},
	{"ClaimPrefixAndLimit", testClaimPrefixLimitStatus},
	{"ClaimScheduleFollowsCreateDelete", testClaimCreateDelete},
	{"ClaimInvalidRequests", testClaimInvalid},
}

// claimNow is the claimers' clock in these tests: one hour after Sample's
// LastValidated, so that Sample records are due with a 1 h interval.
var claimNow = time.Date(2031, 3, 4, 5, 6, 7, 654321000, time.UTC)

const claimApp = "cid"

func claimKey(i int) string { return store.GrantKey(claimApp, store.UserKey(fmt.Sprint(1000+i))) }

// seedClaims saves n records with the given LastValidated.
func seedClaims(t *testing.T, s store.Store, n int, validated func(i int) time.Time) []string {
	t.Helper()
	var keys []string
	for i := range n {
		rec := Sample(claimKey(i))
		rec.LastValidated = validated(i)
		mustSave(t, s, rec, 0)
		keys = append(keys, rec.Key)
	}
	return keys
}

func claim(t *testing.T, c store.ValidationClaimer, owner string, now time.Time, lease time.Duration, limit int) []string {
	t.Helper()
	got, err := c.ClaimDue(ctx(t), store.ValidationClaim{
		Owner: owner, Prefix: store.GrantKey(claimApp, ""), Now: now, Before: now.Add(-time.Hour), Lease: lease, Limit: limit,
	})
	if err != nil {
		t.Fatalf("ClaimDue(%s at %v): %v", owner, now, err)
	}
	return dueKeys(got)
}

func dueKeys(due []store.DueGrant) []string {
	var keys []string
	for _, d := range due {
		keys = append(keys, d.Key)
	}
	return keys
}

func mark(t *testing.T, c store.ValidationClaimer, owner string, keys []string, at time.Time) {
	t.Helper()
	if err := c.MarkValidated(ctx(t), owner, keys, at); err != nil {
		t.Fatalf("MarkValidated(%s): %v", owner, err)
	}
}

// Due records come longest-unvalidated first (never validated before all);
// records validated after Before are not due.
func testClaimDueOrder(t *testing.T, s store.Store, c store.ValidationClaimer) {
	keys := seedClaims(t, s, 4, func(i int) time.Time {
		switch i {
		case 0:
			return claimNow.Add(-2 * time.Hour)
		case 1:
			return time.Time{} // never
		case 2:
			return claimNow.Add(-time.Minute) // validated within the hour: not due
		}
		return claimNow.Add(-time.Hour) // exactly Before: due
	})
	due, err := c.ClaimDue(ctx(t), store.ValidationClaim{
		Owner: "a", Prefix: store.GrantKey(claimApp, ""), Now: claimNow, Before: claimNow.Add(-time.Hour), Lease: time.Minute, Limit: 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []store.DueGrant{{Key: keys[1]}, {Key: keys[0], LastValidated: claimNow.Add(-2 * time.Hour)}, {Key: keys[3], LastValidated: claimNow.Add(-time.Hour)}}
	if len(due) != len(want) {
		t.Fatalf("ClaimDue = %v, want %v (never validated, then oldest first; the fresh one not due)", due, want)
	}
	for i := range due {
		if due[i].Key != want[i].Key || !due[i].LastValidated.Equal(want[i].LastValidated) || due[i].LastValidated.Location() != time.UTC {
			t.Fatalf("ClaimDue = %v, want %v (never validated, then oldest first, with their times in UTC; the fresh one not due)", due, want)
		}
	}
}

// While a claim holds, no owner (not even the same one) gets the key; at
// its end it lapses and the key can be claimed again.
func testClaimExclusive(t *testing.T, s store.Store, c store.ValidationClaimer) {
	keys := seedClaims(t, s, 3, func(int) time.Time { return time.Time{} })
	lease := 30 * time.Second
	if got := claim(t, c, "a", claimNow, lease, 10); !slices.Equal(got, keys) {
		t.Fatalf("first claim = %q, want %q", got, keys)
	}
	for _, owner := range []string{"b", "a"} {
		if got := claim(t, c, owner, claimNow.Add(lease-time.Microsecond), lease, 10); len(got) != 0 {
			t.Fatalf("%s claimed %q while a's claim holds", owner, got)
		}
	}
	later := claimNow.Add(lease)
	if got := claim(t, c, "b", later, lease, 10); !slices.Equal(got, keys) {
		t.Fatalf("claim after the lease lapsed = %q, want %q", got, keys)
	}
	if got := claim(t, c, "a", later, lease, 10); len(got) != 0 {
		t.Fatalf("a claimed %q again while b's new claim holds", got)
	}
}

// Owners claiming at once get disjoint sets that together are every due key.
func testClaimConcurrent(t *testing.T, s store.Store, c store.ValidationClaimer) {
	const n, owners, limit = 60, 8, 4
	keys := seedClaims(t, s, n, func(int) time.Time { return time.Time{} })
	var mu sync.Mutex
	seen := map[string]string{}
	var wg sync.WaitGroup
	errs := make(chan error, owners)
	for o := range owners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := fmt.Sprint("owner", o)
			for {
				due, err := c.ClaimDue(ctx(t), store.ValidationClaim{
					Owner: owner, Prefix: store.GrantKey(claimApp, ""), Now: claimNow, Before: claimNow.Add(-time.Hour),
					Lease: time.Minute, Limit: limit,
				})
				if err != nil {
					errs <- err
					return
				}
				got := dueKeys(due)
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, k := range got {
					if prev, dup := seen[k]; dup {
						mu.Unlock()
						errs <- fmt.Errorf("%q claimed by %s and by %s", k, prev, owner)
						return
					}
					seen[k] = owner
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(seen) != len(keys) {
		t.Fatalf("%d of %d keys claimed", len(seen), len(keys))
	}
}

// MarkValidated moves the validation time forward (never back) and
// releases the owner's claim at once.
func testMarkValidated(t *testing.T, s store.Store, c store.ValidationClaimer) {
	keys := seedClaims(t, s, 2, func(int) time.Time { return time.Time{} })
	claim(t, c, "a", claimNow, 3*time.Hour, 10)
	at := claimNow.Add(time.Second)
	mark(t, c, "a", keys[:1], at)
	// One hour after at, keys[0] is due again although a's claim (three
	// hours long) would still hold: marking released it. keys[1] stays claimed.
	next := at.Add(time.Hour)
	if got := claim(t, c, "b", next.Add(-time.Microsecond), time.Minute, 10); len(got) != 0 {
		t.Fatalf("claimed %q before the interval since the mark passed", got)
	}
	if got := claim(t, c, "b", next, time.Minute, 10); !slices.Equal(got, keys[:1]) {
		t.Fatalf("claim an interval after the mark = %q, want %q", got, keys[:1])
	}
	// An older mark does not move the time back.
	mark(t, c, "b", keys[:1], next)
	mark(t, c, "b", keys[:1], claimNow.Add(-24*time.Hour))
	if got := claim(t, c, "c", next.Add(2*time.Minute), time.Minute, 10); slices.Contains(got, keys[0]) {
		t.Fatalf("an older mark moved the validation time back: %q due", got)
	}
	// An update by Save does not reset the schedule; absent keys are ignored.
	rec := mustLoad(t, s, keys[0])
	rec.LastValidated = time.Time{}
	mustSave(t, s, rec, rec.Version)
	mark(t, c, "c", []string{claimKey(99)}, next)
	if got := claim(t, c, "d", next.Add(3*time.Minute), time.Minute, 10); slices.Contains(got, keys[0]) {
		t.Fatalf("Save reset the validation schedule: %q due", got)
	}
}

// An owner whose claim lapsed and was taken over may still mark the key
// (the validation happened), but must not release the new owner's claim.
func testMarkLateOwner(t *testing.T, s store.Store, c store.ValidationClaimer) {
	keys := seedClaims(t, s, 1, func(int) time.Time { return time.Time{} })
	claim(t, c, "a", claimNow, time.Second, 10)
	later := claimNow.Add(2 * time.Second)
	if got := claim(t, c, "b", later, time.Minute, 10); !slices.Equal(got, keys) {
		t.Fatalf("takeover claim = %q", got)
	}
	mark(t, c, "a", keys, claimNow.Add(-2*time.Hour)) // late and old: neither the time nor b's claim moves
	if got := claim(t, c, "c", later.Add(time.Second), time.Minute, 10); len(got) != 0 {
		t.Fatalf("a's late mark released b's claim: c claimed %q", got)
	}
}

// Only keys with the prefix, whatever their status, at most Limit.
func testClaimPrefixLimitStatus(t *testing.T, s store.Store, c store.ValidationClaimer) {
	keys := seedClaims(t, s, 5, func(int) time.Time { return time.Time{} })
	other := Sample(store.GrantKey("cidother", store.UserKey("7")))
	other.LastValidated = time.Time{}
	mustSave(t, s, other, 0)
	for i, status := range []string{store.StatusRevoked, store.StatusDead, ""} {
		rec := mustLoad(t, s, keys[i])
		rec.Status = status
		mustSave(t, s, rec, rec.Version)
	}
	if got := claim(t, c, "a", claimNow, time.Minute, 2); !slices.Equal(got, keys[:2]) {
		t.Fatalf("ClaimDue limit 2 = %q, want %q (revoked and dead too: the caller skips them)", got, keys[:2])
	}
	if got := claim(t, c, "a", claimNow, time.Minute, 10); !slices.Equal(got, keys[2:]) {
		t.Fatalf("second claim = %q, want %q (not the other application's)", got, keys[2:])
	}
}

// A record's schedule starts with its LastValidated when created, and goes
// with it when deleted: created again, it starts afresh.
func testClaimCreateDelete(t *testing.T, s store.Store, c store.ValidationClaimer) {
	keys := seedClaims(t, s, 1, func(int) time.Time { return time.Time{} })
	claim(t, c, "a", claimNow, time.Hour, 10)
	mark(t, c, "a", keys, claimNow)
	if err := s.Delete(ctx(t), keys[0]); err != nil {
		t.Fatal(err)
	}
	if got := claim(t, c, "b", claimNow, time.Minute, 10); len(got) != 0 {
		t.Fatalf("claimed deleted keys %q", got)
	}
	rec := Sample(keys[0])
	rec.LastValidated = claimNow.Add(-90 * time.Minute)
	mustSave(t, s, rec, 0)
	if got := claim(t, c, "b", claimNow, time.Minute, 10); !slices.Equal(got, keys) {
		t.Fatalf("recreated record last validated 90 min ago: claimed %q, want %q", got, keys)
	}
}

func testClaimInvalid(t *testing.T, s store.Store, c store.ValidationClaimer) {
	ok := store.ValidationClaim{Owner: "a", Now: claimNow, Lease: time.Minute, Limit: 1}
	for name, change := range map[string]func(*store.ValidationClaim){
		"no owner": func(v *store.ValidationClaim) { v.Owner = "" },
		"no lease": func(v *store.ValidationClaim) { v.Lease = 0 },
		"no limit": func(v *store.ValidationClaim) { v.Limit = 0 },
		"no time":  func(v *store.ValidationClaim) { v.Now = time.Time{} },
	} {
		v := ok
		change(&v)
		if _, err := c.ClaimDue(ctx(t), v); !errors.Is(err, store.ErrInvalidRecord) {
			t.Errorf("%s: %v, want ErrInvalidRecord", name, err)
		}
	}
}
