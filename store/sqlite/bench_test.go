package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/store/storetest"
)

// Benchmarks of the stores beside their anchors, in one run:
//
//   - sqlite: this package (CAS, encryption, JSON lists, fsync per Save);
//   - memory: store.Memory;
//   - anchor-sql-full / anchor-sql-normal: a bare SQLite UPDATE (or SELECT)
//     of one row on the same driver, WAL mode, synchronous FULL / NORMAL, no
//     transaction, encryption or CAS: what SQLite itself costs;
//   - anchor-fsync: rewriting 400 bytes of a file and fsyncing it, the floor
//     of any durable write on this disk.
//
// go test -run '^$' -bench . ./store/sqlite/

func BenchmarkSave(b *testing.B) {
	ctx := context.Background()
	b.Run("sqlite", func(b *testing.B) {
		s := open(b, filepath.Join(b.TempDir(), "t.db"))
		benchSave(ctx, b, s)
	})
	b.Run("memory", func(b *testing.B) {
		benchSave(ctx, b, store.NewMemory())
	})
	for _, sync := range []string{"FULL", "NORMAL"} {
		b.Run("anchor-sql-"+sync, func(b *testing.B) {
			db := anchorDB(b, sync)
			val := make([]byte, 400)
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				val[0] = byte(i)
				if _, err := db.ExecContext(ctx, `UPDATE kv SET v = ?, n = n + 1 WHERE k = 'user:1'`, val); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("anchor-fsync", func(b *testing.B) {
		f, err := os.Create(filepath.Join(b.TempDir(), "f"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		val := make([]byte, 400)
		for i := 0; b.Loop(); i++ {
			val[0] = byte(i)
			if _, err := f.WriteAt(val, 0); err != nil {
				b.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func benchSave(ctx context.Context, b *testing.B, s store.Store) {
	rec, err := s.Save(ctx, storetest.Sample(k1), 0)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; b.Loop(); i++ {
		rec.AccessToken = fmt.Sprintf("access-%d", i)
		if rec, err = s.Save(ctx, rec, rec.Version); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoad(b *testing.B) {
	ctx := context.Background()
	load := func(b *testing.B, s store.Store) {
		if _, err := s.Save(ctx, storetest.Sample(k1), 0); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := s.Load(ctx, k1); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("sqlite", func(b *testing.B) { load(b, open(b, filepath.Join(b.TempDir(), "t.db"))) })
	b.Run("memory", func(b *testing.B) { load(b, store.NewMemory()) })
	b.Run("anchor-sql", func(b *testing.B) {
		db := anchorDB(b, "FULL")
		var v []byte
		var n int64
		for b.Loop() {
			if err := db.QueryRowContext(ctx, `SELECT v, n FROM kv WHERE k = 'user:1'`).Scan(&v, &n); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func anchorDB(b *testing.B, sync string) *sql.DB {
	path := filepath.Join(b.TempDir(), "anchor.db")
	db, err := sql.Open("sqlite", path+"?_pragma=journal_mode(WAL)&_pragma=synchronous("+sync+")&_pragma=busy_timeout(5000)")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(4)
	if _, err := db.Exec(`CREATE TABLE kv (k TEXT PRIMARY KEY, v BLOB, n INTEGER) STRICT;
		INSERT INTO kv VALUES ('user:1', x'00', 1)`); err != nil {
		b.Fatal(err)
	}
	return db
}
