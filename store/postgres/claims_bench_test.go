package postgres_test

import (
	"fmt"
	"testing"

	"github.com/twitchauth/twitchauth/internal/pgtest"
	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/store/storetest"
)

// BenchmarkClaimRound: a validation round's claim bookkeeping per grant
// beside the Save per grant it adds to (storetest.BenchmarkClaimRound), on
// 1,000 and 10,000 grants (the claim's cost per grant should not grow with
// the number of grants: each claim is one walk of the due index). The test cluster runs with fsync off: the anchor's commits
// are cheaper here than on a production server.
//
// go test -run '^$' -bench ClaimRound ./store/postgres/
func BenchmarkClaimRound(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			storetest.BenchmarkClaimRound(b, func(b *testing.B) store.Store { return open(b, pgtest.Start(b)) }, n)
		})
	}
}
