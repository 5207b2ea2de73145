package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/twitchauth/twitchauth/store"
)

// rekey moves the records stored under the keys of the older form ("app",
// "user:<id>", written before keys held the client ID) to their grant keys
// ("<client id>/app", "<client id>/user:<id>": store.LegacyKeyTarget), in
// one transaction under the migration lock, so that replicas starting at
// once move each record once. Each token is sealed with its record key as
// associated data, so a move opens and seals both tokens again, and takes
// a new version; the trigger notifies the move to every watching replica.
//
// It runs on every Open and is idempotent: schema migration 2 makes older
// programs refuse the database, and records that cannot be moved now — a
// token that does not open (wrong key, corrupt: List reports it), a record
// without a client ID, or a target key already taken — are left as they
// are, with a warning, for the operator.
func (s *Store) rekey(ctx context.Context) error {
	moved := 0
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockID); err != nil {
			return fmt.Errorf("taking the migration lock: %w", err)
		}
		rows, err := tx.Query(ctx, `SELECT key, client_id, access_token, refresh_token FROM tokens
	WHERE key = 'app' OR key LIKE 'user:%' FOR UPDATE`)
		if err != nil {
			return err
		}
		type legacy struct {
			key, clientID   string
			access, refresh []byte
		}
		var old []legacy
		var l legacy
		if _, err := pgx.ForEachRow(rows, []any{&l.key, &l.clientID, &l.access, &l.refresh}, func() error {
			old = append(old, l)
			return nil
		}); err != nil {
			return err
		}
		for _, l := range old {
			target, ok := store.LegacyKeyTarget(l.key, l.clientID)
			if !ok {
				s.log.Warn("postgres store: a record under an old-form key has no client ID and was not moved; remove it if it is not needed",
					"database", s.target, "key", l.key)
				continue
			}
			rec := store.Record{Key: l.key}
			if err := s.cipher.OpenTokens(&rec, l.access, l.refresh); err != nil {
				s.log.Warn("postgres store: a record under an old-form key cannot be read and was not moved",
					"database", s.target, "key", l.key, "err", err)
				continue
			}
			rec.Key = target
			access, refresh, err := s.cipher.SealTokens(rec)
			if err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, `UPDATE tokens SET key = $1, access_token = $2, refresh_token = $3, version = nextval('version_seq')
	WHERE key = $4 AND NOT EXISTS (SELECT 1 FROM tokens WHERE key = $1)`, target, access, refresh, l.key)
			if err != nil {
				return fmt.Errorf("moving %q to %q: %w", l.key, target, err)
			}
			if tag.RowsAffected() == 0 {
				s.log.Warn("postgres store: a record under an old-form key was not moved: its new key holds a newer record; remove the old one if it is not needed",
					"database", s.target, "key", l.key, "new_key", target)
				continue
			}
			moved++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("moving records to client-ID keys: %w", err)
	}
	if moved > 0 {
		s.log.Info("postgres store: moved records to keys that hold the client ID", "database", s.target, "records", moved)
	}
	return nil
}
