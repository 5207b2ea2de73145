package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth/store"
)

// BenchmarkClaimRound measures what a validation round costs a store per
// grant, beside its anchor, in one run. s must be empty and a
// store.ValidationClaimer; it is filled with n grants.
//
//   - claim: the fleet's bookkeeping, one ClaimDue (batches of 32) and one
//     MarkValidated per batch, until every grant of the round is done;
//   - anchor-save: what the round costs without claims, one Save per grant
//     recording its LastValidated (as validateOne does).
//
// Both report ns/grant; claim/anchor-save is the claim's cost relative to
// the write each validation already makes.
func BenchmarkClaimRound(b *testing.B, newStore func(b *testing.B) store.Store, n int) {
	b.Run("claim", func(b *testing.B) {
		s := newStore(b)
		c, ok := s.(store.ValidationClaimer)
		if !ok {
			b.Skip("not a store.ValidationClaimer")
		}
		fillBench(b, s, n)
		now := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
		ctx := context.Background()
		b.ResetTimer()
		for range b.N {
			now = now.Add(2 * time.Hour)
			done := 0
			for {
				due, err := c.ClaimDue(ctx, store.ValidationClaim{
					Owner: "bench", Prefix: store.GrantKey(claimApp, ""), Now: now, Before: now.Add(-time.Hour),
					Lease: time.Minute, Limit: 32,
				})
				if err != nil {
					b.Fatal(err)
				}
				if len(due) == 0 {
					break
				}
				keys := make([]string, len(due))
				for i, d := range due {
					keys[i] = d.Key
				}
				if err := c.MarkValidated(ctx, "bench", keys, now); err != nil {
					b.Fatal(err)
				}
				done += len(due)
			}
			if done != n {
				b.Fatalf("a round claimed %d grants, want %d", done, n)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/grant")
	})
	b.Run("anchor-save", func(b *testing.B) {
		s := newStore(b)
		recs := fillBench(b, s, n)
		now := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
		ctx := context.Background()
		b.ResetTimer()
		for range b.N {
			now = now.Add(2 * time.Hour)
			for i := range recs {
				recs[i].LastValidated = now
				saved, err := s.Save(ctx, recs[i], recs[i].Version)
				if err != nil {
					b.Fatal(err)
				}
				recs[i] = saved
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/grant")
	})
}

func fillBench(b *testing.B, s store.Store, n int) []store.Record {
	b.Helper()
	recs := make([]store.Record, n)
	for i := range n {
		rec := Sample(store.GrantKey(claimApp, store.UserKey(fmt.Sprint(100000+i))))
		rec.LastValidated = time.Time{}
		saved, err := s.Save(context.Background(), rec, 0)
		if err != nil {
			b.Fatal(err)
		}
		recs[i] = saved
	}
	return recs
}
