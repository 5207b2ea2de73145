package sqlite

import (
	"github.com/twitchauth/twitchauth/store"
	"log/slog"
	"path/filepath"
	"testing"
)

// Every pooled connection must run with the durability settings, not only
// the first one.
func TestPragmasOnEveryConnection(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "t.db"),
		Config{Key: store.KeyConfig{Key: make([]byte, 32)}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	for i := range 4 { // the pool's size
		c, err := s.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close() // hold it, so the next iteration gets another one
		var journal string
		var sync, fk, busy int
		if err := c.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&journal); err != nil {
			t.Fatal(err)
		}
		c.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&sync)
		c.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk)
		c.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&busy)
		if journal != "wal" || sync != 2 || fk != 1 || busy != int(DefaultBusyTimeout.Milliseconds()) {
			t.Errorf("connection %d: journal_mode=%s synchronous=%d foreign_keys=%d busy_timeout=%d; want wal 2 1 %d",
				i, journal, sync, fk, busy, DefaultBusyTimeout.Milliseconds())
		}
	}
}

func TestMigrationsAreNumberedAndEmbedded(t *testing.T) {
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		t.Fatal("no migrations embedded")
	}
	for i, m := range ms {
		if m.Version != i+1 || m.Name == "" || m.SQL == "" {
			t.Errorf("migration %d = {%d %q, %d bytes}", i, m.Version, m.Name, len(m.SQL))
		}
	}
}
