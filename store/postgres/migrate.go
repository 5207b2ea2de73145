package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Migrations are the files migrations/NNNN_name.sql, applied in order of
// NNNN, which must run 1, 2, 3… without gaps. A migration is never edited
// once released: change the schema with a new file.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrationLockID is the key of the transaction-scoped advisory lock that
// serialises migrations: a constant chosen for this package, never to change
// (replicas of different versions must queue on the same lock).
const migrationLockID int64 = 0x2b5c_0f4e_9a41_7d13

func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries { // sorted by name
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v != len(ms)+1 {
			return nil, fmt.Errorf("migration file %s: want NNNN_name.sql numbered %d", e.Name(), len(ms)+1)
		}
		body, err := migrationFS.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: name, sql: string(body)})
	}
	return ms, nil
}

// migrate applies the migrations not yet recorded in schema_migrations and
// returns the versions it applied. Everything happens in one transaction
// that first takes an advisory lock (pg_advisory_xact_lock): replicas
// starting at once queue on the lock, and those after the first find the
// migrations recorded and apply nothing. PostgreSQL's DDL is transactional,
// so a failed migration leaves no trace.
func migrate(ctx context.Context, pool *pgxpool.Pool) (applied []int, err error) {
	ms, err := loadMigrations()
	if err != nil {
		return nil, err
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockID); err != nil {
			return fmt.Errorf("taking the migration lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    integer     NOT NULL PRIMARY KEY,
	name       text        NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
)`); err != nil {
			return fmt.Errorf("creating schema_migrations: %w", err)
		}
		var newest int
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&newest); err != nil {
			return fmt.Errorf("reading schema_migrations: %w", err)
		}
		if newest > len(ms) {
			return fmt.Errorf("%w: the database has schema version %d, this program knows versions up to %d; upgrade twitchauth",
				ErrSchemaTooNew, newest, len(ms))
		}
		for _, m := range ms[newest:] {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("applying migration %d (%s): %w", m.version, m.name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
				return fmt.Errorf("recording migration %d (%s): %w", m.version, m.name, err)
			}
			applied = append(applied, m.version)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return applied, nil
}
