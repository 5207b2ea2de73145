package postgres_test

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth/internal/pgtest"
	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/store/postgres"
	"github.com/twitchauth/twitchauth/store/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, pgtest.Start(t))
	})
}

// open opens a store on url with a fixed test key and closes it at the end
// of the test.
func open(t testing.TB, url string, opts ...option) *postgres.Store {
	t.Helper()
	cfg := postgres.Config{Key: store.KeyConfig{Key: testKey}, Logger: discard()}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := postgres.Open(t.Context(), url, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var testKey = []byte("0123456789abcdef0123456789abcdef")

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// option sets one field of a postgres.Config (the tests' shorthand).
type option func(*postgres.Config)

func withKey(primary []byte, previous ...[]byte) option {
	return func(c *postgres.Config) { c.Key = store.KeyConfig{Key: primary, PreviousKeys: previous} }
}
func withLeasePoll(d time.Duration) option { return func(c *postgres.Config) { c.LeasePoll = d } }
