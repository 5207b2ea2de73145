package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/twitchauth/twitchauth/store"
)

const selectColumns = `key, version, client_id, user_id, login, access_token, refresh_token, token_type,
	scopes, expiry, intents, status, last_validated, updated_at`

// Load returns the record for key, or an error wrapping store.ErrNotFound.
// A token that cannot be decrypted gives an error wrapping store.ErrWrongKey
// or store.ErrCorrupt.
func (s *Store) Load(ctx context.Context, key string) (store.Record, error) {
	if err := s.usable(ctx); err != nil {
		return store.Record{}, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+selectColumns+` FROM tokens WHERE key = $1`, key)
	if err != nil {
		return store.Record{}, s.wrap(fmt.Sprintf("loading %q", key), err)
	}
	rec, err := pgx.CollectExactlyOneRow(rows, s.scan)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Record{}, store.NotFoundError(key)
	}
	if err != nil {
		return store.Record{}, s.wrap(fmt.Sprintf("loading %q", key), err)
	}
	return rec, nil
}

// List returns every record, sorted by key (byte order). Records that
// cannot be decrypted or decoded are skipped and named by the
// *store.UnreadableError returned with the others.
func (s *Store) List(ctx context.Context) ([]store.Record, error) {
	if err := s.usable(ctx); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+selectColumns+` FROM tokens ORDER BY key`) // key is COLLATE "C"
	if err != nil {
		return nil, s.wrap("listing records", err)
	}
	defer rows.Close()
	var out []store.Record
	var bad []store.UnreadableRecord
	for rows.Next() {
		rec, err := s.scan(rows)
		var ue *unreadable
		switch {
		case errors.As(err, &ue):
			bad = append(bad, store.UnreadableRecord{Key: ue.key, Err: ue.err})
			continue
		case err != nil:
			return nil, s.wrap("listing records", err)
		}
		out = append(out, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("listing records", err)
	}
	if len(bad) > 0 {
		return out, &store.UnreadableError{Records: bad}
	}
	return out, nil
}

// unreadable is scan's error for a row read from the database whose
// content cannot be decoded: List skips it.
type unreadable struct {
	key string
	err error
}

func (u *unreadable) Error() string { return u.err.Error() }
func (u *unreadable) Unwrap() error { return u.err }

// Save writes rec if the stored version equals expectVersion; see
// store.Store.Save. It is one statement — an UPDATE … WHERE key = $1 AND
// version = $2, or an INSERT … ON CONFLICT DO NOTHING for version 0 — taking
// the new version from the sequence version_seq; its commit (with
// synchronous_commit on) makes it durable and notifies RecordsChannel.
func (s *Store) Save(ctx context.Context, rec store.Record, expectVersion int64) (store.Record, error) {
	if err := store.CheckSave(rec, expectVersion); err != nil {
		return store.Record{}, err
	}
	if err := s.usable(ctx); err != nil {
		return store.Record{}, err
	}
	rec.UpdatedAt = s.now()
	rec = rec.Normalize()
	access, refresh, err := s.cipher.SealTokens(rec)
	if err != nil {
		return store.Record{}, err
	}
	args := saveArgs(rec, access, refresh)
	var q string
	if expectVersion == 0 {
		q = insertQuery
	} else {
		q = updateQuery
		args = append(args, expectVersion)
	}
	var version int64
	err = s.pool.QueryRow(ctx, q, args...).Scan(&version)
	if errors.Is(err, pgx.ErrNoRows) {
		var current int64
		err := s.pool.QueryRow(ctx, `SELECT version FROM tokens WHERE key = $1`, rec.Key).Scan(&current)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return store.Record{}, s.wrap(fmt.Sprintf("saving %q", rec.Key), err)
		}
		return store.Record{}, &store.ConflictError{Key: rec.Key, Expected: expectVersion, Current: current}
	}
	if err != nil {
		return store.Record{}, s.wrap(fmt.Sprintf("saving %q", rec.Key), err)
	}
	rec.Version = version
	return rec, nil // rec is already a private copy (Normalize)
}

// Delete removes key; deleting an absent key is not an error. Deleting a
// record notifies RecordsChannel.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.usable(ctx); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM tokens WHERE key = $1`, key); err != nil {
		return s.wrap(fmt.Sprintf("deleting %q", key), err)
	}
	return nil
}

// usable reports store.ErrClosed after Close, and ctx's error if it is done.
func (s *Store) usable(ctx context.Context) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	return ctx.Err()
}

// wrap adds context to a database error. A context error stays matchable
// with errors.Is; an error caused by Close becomes store.ErrClosed. The
// messages name the database (host, port, name), never its password.
func (s *Store) wrap(what string, err error) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	return fmt.Errorf("postgres store %s: %s: %w", s.target, what, err)
}

func (s *Store) scan(row pgx.CollectableRow) (store.Record, error) {
	var (
		rec                   store.Record
		access, refresh       []byte
		scopes, intents       []string
		expiry, lastValidated pgtype.Timestamptz
	)
	err := row.Scan(&rec.Key, &rec.Version, &rec.ClientID, &rec.UserID, &rec.Login, &access, &refresh, &rec.TokenType,
		&scopes, &expiry, &intents, &rec.Status, &lastValidated, &rec.UpdatedAt)
	if err != nil {
		return store.Record{}, err
	}
	if err := s.cipher.OpenTokens(&rec, access, refresh); err != nil {
		return store.Record{}, &unreadable{rec.Key, err}
	}
	rec.Scopes, rec.Intents = scopes, intents
	if err := rec.Validate(); err != nil {
		// A row written by hand (or by a bug) that no Save would write.
		return store.Record{}, &unreadable{rec.Key, fmt.Errorf("%w: %v", store.ErrCorrupt, err)}
	}
	rec.Expiry = timeValue(expiry)
	rec.LastValidated = timeValue(lastValidated)
	return rec.Normalize(), nil
}

// list stores a nil list as an empty array (the columns are NOT NULL).
func list(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

func timeArg(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

func timeValue(v pgtype.Timestamptz) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return v.Time
}
