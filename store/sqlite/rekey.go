package sqlite

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/twitchauth/twitchauth/store"
)

// rekey moves the records stored under the keys of the older form ("app",
// "user:<id>", written before keys held the client ID) to their grant keys
// ("<client id>/app", "<client id>/user:<id>": store.LegacyKeyTarget), in
// one immediate transaction. Each token is sealed with its record key as
// associated data, so a move opens and seals both tokens again, and takes
// a new version (a reader holding the old key sees it gone).
//
// It runs on every Open and is idempotent: schema migration 2 makes older
// programs refuse the database, and records that cannot be moved now — a
// token that does not open (wrong key, corrupt: List reports it), a record
// without a client ID, or a target key already taken — are left as they
// are, with a warning, for the operator.
func (s *Store) rekey(ctx context.Context, log *slog.Logger) error {
	tx, err := s.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE (see dsn)
	if err != nil {
		return s.wrap("moving records to client-ID keys", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT key, client_id, access_token, refresh_token FROM tokens
	WHERE key = 'app' OR key GLOB 'user:*'`)
	if err != nil {
		return s.wrap("moving records to client-ID keys", err)
	}
	type legacy struct {
		key, clientID   string
		access, refresh []byte
	}
	var old []legacy
	for rows.Next() {
		var l legacy
		if err := rows.Scan(&l.key, &l.clientID, &l.access, &l.refresh); err != nil {
			rows.Close()
			return s.wrap("moving records to client-ID keys", err)
		}
		old = append(old, l)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return s.wrap("moving records to client-ID keys", err)
	}
	moved := 0
	for _, l := range old {
		target, ok := store.LegacyKeyTarget(l.key, l.clientID)
		if !ok {
			log.Warn("sqlite store: a record under an old-form key has no client ID and was not moved; remove it if it is not needed",
				"path", s.path, "key", l.key)
			continue
		}
		rec := store.Record{Key: l.key}
		if err := s.cipher.OpenTokens(&rec, l.access, l.refresh); err != nil {
			log.Warn("sqlite store: a record under an old-form key cannot be read and was not moved", "path", s.path, "key", l.key, "err", err)
			continue
		}
		var taken int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM tokens WHERE key = ?`, target).Scan(&taken); err != nil {
			return s.wrap("moving records to client-ID keys", err)
		}
		if taken > 0 {
			log.Warn("sqlite store: a record under an old-form key was not moved: its new key holds a newer record; remove the old one if it is not needed",
				"path", s.path, "key", l.key, "new_key", target)
			continue
		}
		rec.Key = target
		access, refresh, err := s.cipher.SealTokens(rec)
		if err != nil {
			return err
		}
		var version int64
		if err := tx.QueryRowContext(ctx, `UPDATE version_seq SET value = value + 1 WHERE id = 1 RETURNING value`).Scan(&version); err != nil {
			return s.wrap("moving records to client-ID keys", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE tokens SET key = ?, access_token = ?, refresh_token = ?, version = ? WHERE key = ?`,
			target, access, refresh, version, l.key); err != nil {
			return s.wrap(fmt.Sprintf("moving %q to %q", l.key, target), err)
		}
		moved++
	}
	if moved == 0 {
		return nil
	}
	if err := tx.Commit(); err != nil {
		return s.wrap("moving records to client-ID keys", err)
	}
	log.Info("sqlite store: moved records to keys that hold the client ID", "path", s.path, "records", moved)
	return nil
}
