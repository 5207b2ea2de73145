package postgres

import (
	"context"
	"embed"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/twitchauth/twitchauth/store"
)

// Migrations are the files migrations/NNNN_name.sql, applied in order of
// NNNN, which must run 1, 2, 3… without gaps. A migration is never edited
// once released: change the schema with a new file.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// migrationLockID is the key of the transaction-scoped advisory lock that
// serialises migrations: a constant chosen for this package, never to change
// (replicas of different versions must queue on the same lock).
const migrationLockID int64 = 0x2b5c_0f4e_9a41_7d13

func loadMigrations() ([]store.Migration, error) {
	return store.LoadMigrations(migrationFS, "migrations")
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
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("applying migration %d (%s): %w", m.Version, m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
				return fmt.Errorf("recording migration %d (%s): %w", m.Version, m.Name, err)
			}
			applied = append(applied, m.Version)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return applied, nil
}
