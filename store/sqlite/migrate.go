package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/twitchauth/twitchauth/store"
)

// Migrations are the files migrations/NNNN_name.sql, applied in order of
// NNNN, which must run 1, 2, 3… without gaps. A migration is never edited
// once released: change the schema with a new file.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

func loadMigrations() ([]store.Migration, error) {
	return store.LoadMigrations(migrationFS, "migrations")
}

// migrate applies the migrations not yet recorded in schema_migrations, each
// in its own immediate transaction, and returns the versions it applied.
// Several processes may migrate the same file at once: each migration is
// re-checked inside its transaction, so it is applied exactly once.
func migrate(ctx context.Context, db *sql.DB) (applied []int, err error) {
	ms, err := loadMigrations()
	if err != nil {
		return nil, err
	}
	const createTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER NOT NULL PRIMARY KEY,
	name       TEXT    NOT NULL,
	applied_at INTEGER NOT NULL
) STRICT`
	if _, err := db.ExecContext(ctx, createTable); err != nil {
		return nil, fmt.Errorf("sqlite: creating schema_migrations: %w", err)
	}
	var newest int
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&newest); err != nil {
		return nil, fmt.Errorf("sqlite: reading schema_migrations: %w", err)
	}
	if newest > len(ms) {
		return nil, fmt.Errorf("sqlite: %w: the database has schema version %d, this program knows versions up to %d; upgrade twitchauth",
			ErrSchemaTooNew, newest, len(ms))
	}
	for _, m := range ms[newest:] {
		done, err := applyMigration(ctx, db, m)
		if err != nil {
			return applied, fmt.Errorf("sqlite: applying migration %d (%s): %w", m.Version, m.Name, err)
		}
		if done {
			applied = append(applied, m.Version)
		}
	}
	return applied, nil
}

func applyMigration(ctx context.Context, db *sql.DB, m store.Migration) (applied bool, err error) {
	tx, err := db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: one migrating process at a time
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	var one int
	err = tx.QueryRowContext(ctx, `SELECT 1 FROM schema_migrations WHERE version = ?`, m.Version).Scan(&one)
	if err == nil {
		return false, nil // another process applied it meanwhile
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.Version, m.Name, time.Now().UnixMicro()); err != nil {
		return false, err
	}
	return true, tx.Commit()
}
