package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/store/storetest"
)

// BenchmarkClaimRound: a validation round's claim bookkeeping per grant
// beside the fsync'd Save per grant it adds to
// (storetest.BenchmarkClaimRound), on 1,000 grants.
//
// go test -run '^$' -bench ClaimRound ./store/sqlite/
func BenchmarkClaimRound(b *testing.B) {
	storetest.BenchmarkClaimRound(b, func(b *testing.B) store.Store {
		return open(b, filepath.Join(b.TempDir(), "t.db"))
	}, 1000)
}
