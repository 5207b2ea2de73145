package sqlite_test

import (
	"log/slog"
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
func open(t testing.TB, path string, opts ...option) *sqlite.Store {
	t.Helper()
	cfg := sqlite.Config{Key: store.KeyConfig{Key: testKey}, Logger: discard()}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := sqlite.Open(t.Context(), path, cfg)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var testKey = []byte("0123456789abcdef0123456789abcdef")

// option sets one field of a sqlite.Config (the tests' shorthand).
type option func(*sqlite.Config)

func withKey(primary []byte, previous ...[]byte) option {
	return func(c *sqlite.Config) { c.Key = store.KeyConfig{Key: primary, PreviousKeys: previous} }
}
func withLogger(l *slog.Logger) option { return func(c *sqlite.Config) { c.Logger = l } }
