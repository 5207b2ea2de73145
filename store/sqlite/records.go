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
	// Two stages, one goroutine each (walk.go): this one decrypts and
	// decodes rows and calls fn while the other steps SQLite through the
	// next rows. At 100,000 grants each stage is about half of the work.
	w := startWalk(rows)
	defer w.stop()
	var bad []store.UnreadableRecord
	in := newInterner()
	for b := range w.full {
		for i := range b.rows {
			rec, err := s.decode(&b.rows[i], in)
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
		if b.err != nil {
			return s.wrap("listing records", b.err)
		}
		w.free <- b
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

func (s *Store) scan(row scanner) (store.Record, error) {
	var r rawRow
	var cp [7][]byte // Row.Scan refuses sql.RawBytes: copies
	err := row.Scan(&r.rec.Key, &r.rec.Version, &cp[0], &r.rec.UserID, &r.rec.Login, &cp[5], &cp[6], &cp[1],
		&cp[2], &r.expiry, &cp[3], &cp[4], &r.lastValidated, &r.updatedAt)
	if err != nil {
		return store.Record{}, err
	}
	r.raw = cp
	return s.decode(&r, nil)
}

// rawRow is one row as read from the tokens table, before its tokens are
// decrypted and its lists decoded.
type rawRow struct {
	rec                   store.Record // key, version, user ID and login
	expiry, lastValidated sql.NullInt64
	updatedAt             int64
	// client ID, token type, scopes, intents, status, sealed access and
	// refresh tokens
	raw [7][]byte
}

// scanRaw reads the current row of rows into r, copying the values that
// rows owns (raw) to the end of buf, which it returns.
func scanRaw(rows *sql.Rows, r *rawRow, raw *[7]sql.RawBytes, buf []byte) ([]byte, error) {
	err := rows.Scan(&r.rec.Key, &r.rec.Version, &raw[0], &r.rec.UserID, &r.rec.Login, &raw[5], &raw[6], &raw[1],
		&raw[2], &r.expiry, &raw[3], &raw[4], &r.lastValidated, &r.updatedAt)
	if err != nil {
		return buf, err
	}
	for i, v := range raw {
		start := len(buf)
		buf = append(buf, v...)
		r.raw[i] = buf[start:len(buf):len(buf)]
	}
	return buf, nil
}

// decode decrypts and decodes a row read by scan or scanRaw; in, when not
// nil, shares repeated strings.
func (s *Store) decode(r *rawRow, in *interner) (store.Record, error) {
	rec := r.rec
	clientID, tokenType, scopes, intents, status := r.raw[0], r.raw[1], r.raw[2], r.raw[3], r.raw[4]
	access, refresh := r.raw[5], r.raw[6]
	var err error
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
	rec.Expiry = timeValue(r.expiry)
	rec.LastValidated = timeValue(r.lastValidated)
	rec.UpdatedAt = timeValue(sql.NullInt64{Int64: r.updatedAt, Valid: true})
	return rec.NormalizeOwned(), nil // the lists are this row's own
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
