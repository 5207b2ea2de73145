package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/twitchauth/twitchauth/store"
)

const selectColumns = `key, version, client_id, user_id, login, access_token, refresh_token, token_type,
	scopes, expiry, intents, status, last_validated, updated_at`

// Load returns the record for key, or an error wrapping store.ErrNotFound.
// A token that cannot be decrypted gives an error wrapping store.ErrWrongKey
// or store.ErrCorrupt.
func (s *Store) Load(ctx context.Context, key string) (store.Record, error) {
	if s.closed.Load() {
		return store.Record{}, store.ErrClosed
	}
	row := s.db.QueryRowContext(ctx, `SELECT `+selectColumns+` FROM tokens WHERE key = ?`, key)
	rec, err := s.scan(row)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Record{}, store.NotFoundError(key)
	}
	if err != nil {
		return store.Record{}, s.wrap("loading "+fmt.Sprintf("%q", key), err)
	}
	return rec, nil
}

// List returns every record, sorted by key. Records that cannot be
// decrypted or decoded are skipped and named by the *store.UnreadableError
// returned with the others.
func (s *Store) List(ctx context.Context) ([]store.Record, error) {
	var out []store.Record
	err := s.Walk(ctx, func(r store.Record) error {
		out = append(out, r)
		return nil
	})
	var ue *store.UnreadableError
	if err != nil && !errors.As(err, &ue) {
		return nil, err
	}
	return out, err
}

// Walk calls fn with every record, sorted by key, one row at a time (see
// store.Walker): loading 100,000 grants holds no list of them all. Records
// that cannot be decrypted or decoded are skipped and named by the
// *store.UnreadableError returned at the end. The strings that repeat from
// row to row (client ID, token type, status, scopes) are shared between the
// records of one walk rather than copied per row.
func (s *Store) Walk(ctx context.Context, fn func(store.Record) error) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	// COLLATE BINARY is SQLite's default for TEXT: byte order, as in Go.
	rows, err := s.db.QueryContext(ctx, `SELECT `+selectColumns+` FROM tokens ORDER BY key COLLATE BINARY`)
	if err != nil {
		return s.wrap("listing records", err)
	}
	defer rows.Close()
	var bad []store.UnreadableRecord
	in := newInterner()
	for rows.Next() {
		rec, err := s.scanWith(rows, in)
		var ue *unreadable
		switch {
		case errors.As(err, &ue):
			bad = append(bad, store.UnreadableRecord{Key: ue.key, Err: ue.err})
			continue
		case err != nil:
			return s.wrap("listing records", err)
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return s.wrap("listing records", err)
	}
	if len(bad) > 0 {
		return &store.UnreadableError{Records: bad}
	}
	return nil
}

var _ store.Walker = (*Store)(nil)

// unreadable is scan's error for a row read from the database whose
// content cannot be decoded: List skips it.
type unreadable struct {
	key string
	err error
}

func (u *unreadable) Error() string { return u.err.Error() }
func (u *unreadable) Unwrap() error { return u.err }

// Save writes rec if the stored version equals expectVersion; see
// store.Store.Save. The write is committed with synchronous=FULL: when Save
// returns nil the record is on stable storage.
func (s *Store) Save(ctx context.Context, rec store.Record, expectVersion int64) (store.Record, error) {
	if err := store.CheckSave(rec, expectVersion); err != nil {
		return store.Record{}, err
	}
	if s.closed.Load() {
		return store.Record{}, store.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return store.Record{}, err
	}
	rec.UpdatedAt = s.now()
	rec = rec.Normalize()

	access, refresh, err := s.cipher.SealTokens(rec)
	if err != nil {
		return store.Record{}, err
	}
	scopes, err := encodeList(rec.Scopes)
	if err != nil {
		return store.Record{}, err
	}
	intents, err := encodeList(rec.Intents)
	if err != nil {
		return store.Record{}, err
	}

	tx, err := s.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE (see dsn)
	if err != nil {
		return store.Record{}, s.wrap("saving "+fmt.Sprintf("%q", rec.Key), err)
	}
	defer tx.Rollback()

	var version int64
	if err := tx.QueryRowContext(ctx, `UPDATE version_seq SET value = value + 1 WHERE id = 1 RETURNING value`).Scan(&version); err != nil {
		return store.Record{}, s.wrap("saving "+fmt.Sprintf("%q", rec.Key), err)
	}
	args := []any{
		version, rec.ClientID, rec.UserID, rec.Login, access, refresh, rec.TokenType,
		scopes, timeArg(rec.Expiry), intents, rec.Status, timeArg(rec.LastValidated), rec.UpdatedAt.UnixMicro(),
		rec.Key,
	}
	var res sql.Result
	if expectVersion == 0 {
		res, err = tx.ExecContext(ctx, `INSERT INTO tokens (version, client_id, user_id, login, access_token, refresh_token,
	token_type, scopes, expiry, intents, status, last_validated, updated_at, key)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (key) DO NOTHING`, args...)
	} else {
		res, err = tx.ExecContext(ctx, `UPDATE tokens SET version = ?, client_id = ?, user_id = ?, login = ?,
	access_token = ?, refresh_token = ?, token_type = ?, scopes = ?, expiry = ?, intents = ?, status = ?,
	last_validated = ?, updated_at = ?
	WHERE key = ? AND version = ?`, append(args, expectVersion)...)
	}
	if err != nil {
		return store.Record{}, s.wrap("saving "+fmt.Sprintf("%q", rec.Key), err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return store.Record{}, s.wrap("saving "+fmt.Sprintf("%q", rec.Key), err)
	}
	if n == 0 {
		var current int64
		err := tx.QueryRowContext(ctx, `SELECT version FROM tokens WHERE key = ?`, rec.Key).Scan(&current)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return store.Record{}, s.wrap("saving "+fmt.Sprintf("%q", rec.Key), err)
		}
		return store.Record{}, &store.ConflictError{Key: rec.Key, Expected: expectVersion, Current: current}
	}
	if err := tx.Commit(); err != nil {
		return store.Record{}, s.wrap("committing "+fmt.Sprintf("%q", rec.Key), err)
	}
	rec.Version = version
	return rec, nil // rec is already a private copy (Normalize)
}

// Delete removes key; deleting an absent key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM tokens WHERE key = ?`, key); err != nil {
		return s.wrap("deleting "+fmt.Sprintf("%q", key), err)
	}
	return nil
}

// wrap adds context to a database error. A context error is returned so that
// errors.Is(err, context.Canceled) holds; a closed database becomes
// store.ErrClosed.
func (s *Store) wrap(what string, err error) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	return fmt.Errorf("sqlite store %s: %s: %w", s.path, what, err)
}

type scanner interface{ Scan(dest ...any) error }

func (s *Store) scan(row scanner) (store.Record, error) { return s.scanWith(row, nil) }

// scanWith reads one row; in, when not nil, shares repeated strings.
func (s *Store) scanWith(row scanner, in *interner) (store.Record, error) {
	var (
		rec                   store.Record
		access, refresh       []byte
		expiry, lastValidated sql.NullInt64
		updatedAt             int64
		// The text columns: sql.RawBytes in a walk (no copy per value),
		// []byte for Load (Row.Scan refuses RawBytes).
		// The sealed tokens too: opening them makes new plaintexts.
		raw [7]sql.RawBytes
		cp  [7][]byte
		dst = []any{&raw[0], &raw[1], &raw[2], &raw[3], &raw[4], &raw[5], &raw[6]}
	)
	if in == nil {
		dst = []any{&cp[0], &cp[1], &cp[2], &cp[3], &cp[4], &cp[5], &cp[6]}
	}
	err := row.Scan(&rec.Key, &rec.Version, dst[0], &rec.UserID, &rec.Login, dst[5], dst[6], dst[1],
		dst[2], &expiry, dst[3], dst[4], &lastValidated, &updatedAt)
	if err != nil {
		return store.Record{}, err
	}
	if in == nil {
		for i := range cp {
			raw[i] = cp[i]
		}
	}
	clientID, tokenType, scopes, intents, status := raw[0], raw[1], raw[2], raw[3], raw[4]
	access, refresh = raw[5], raw[6]
	rec.ClientID, rec.TokenType, rec.Status = in.str(clientID), in.str(tokenType), in.str(status)
	if err := s.cipher.OpenTokens(&rec, access, refresh); err != nil {
		return store.Record{}, &unreadable{rec.Key, err}
	}
	if rec.Scopes, err = in.list(scopes); err != nil {
		return store.Record{}, &unreadable{rec.Key, fmt.Errorf("%w: scopes of %q: %v", store.ErrCorrupt, rec.Key, err)}
	}
	if rec.Intents, err = in.list(intents); err != nil {
		return store.Record{}, &unreadable{rec.Key, fmt.Errorf("%w: intents of %q: %v", store.ErrCorrupt, rec.Key, err)}
	}
	if err := rec.Validate(); err != nil {
		// A row written by hand (or by a bug) that no Save would write.
		return store.Record{}, &unreadable{rec.Key, fmt.Errorf("%w: %v", store.ErrCorrupt, err)}
	}
	rec.Expiry = timeValue(expiry)
	rec.LastValidated = timeValue(lastValidated)
	rec.UpdatedAt = time.UnixMicro(updatedAt).UTC()
	return rec.Normalize(), nil
}

func encodeList(l []string) (string, error) {
	if l == nil {
		return "[]", nil
	}
	b, err := json.Marshal(l)
	return string(b), err
}

func decodeList(s string) ([]string, error) {
	if l, ok := decodePlainList(s); ok {
		return l, nil
	}
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, err
	}
	return l, nil
}

func timeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func timeValue(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}
