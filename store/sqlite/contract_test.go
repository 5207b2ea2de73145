package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/store/sqlite"
	"github.com/twitchauth/twitchauth/store/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), "tokens.db"))
	})
}

// open opens a store at path with a fixed test key and closes it at the end
// of the test.
func open(t testing.TB, path string, opts ...sqlite.Option) *sqlite.Store {
	t.Helper()
	opts = append([]sqlite.Option{sqlite.WithKey(testKey), sqlite.WithLogger(discard())}, opts...)
	s, err := sqlite.Open(t.Context(), path, opts...)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var testKey = []byte("0123456789abcdef0123456789abcdef")
