package postgres_test

import (
	"io"
	"log/slog"
	"testing"

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
func open(t testing.TB, url string, opts ...postgres.Option) *postgres.Store {
	t.Helper()
	opts = append([]postgres.Option{postgres.WithKey(testKey), postgres.WithLogger(discard())}, opts...)
	s, err := postgres.Open(t.Context(), url, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var testKey = []byte("0123456789abcdef0123456789abcdef")

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
