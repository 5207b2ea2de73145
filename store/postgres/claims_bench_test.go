package postgres_test

import (
	"testing"

	"github.com/twitchauth/twitchauth/internal/pgtest"
	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/store/storetest"
)

// BenchmarkClaimRound: a validation round's claim bookkeeping per grant
// beside the Save per grant it adds to (storetest.BenchmarkClaimRound), on
// 1,000 grants. The test cluster runs with fsync off: the anchor's commits
// are cheaper here than on a production server.
//
// go test -run '^$' -bench ClaimRound ./store/postgres/
func BenchmarkClaimRound(b *testing.B) {
	storetest.BenchmarkClaimRound(b, func(b *testing.B) store.Store { return open(b, pgtest.Start(b)) }, 1000)
}
