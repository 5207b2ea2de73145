package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/twitchauth/twitchauth/store"
)

var _ store.BatchSaver = (*Store)(nil)

// SaveBatch performs every op as Save would, in one transaction committed
// with synchronous=FULL: one fsync of the write-ahead log for the whole
// batch instead of one per record (see store.BatchSaver). An op whose
// version does not match writes nothing and gets its *store.ConflictError;
// the others are committed. A database error rolls the whole batch back and
// fails every op with it.
func (s *Store) SaveBatch(ctx context.Context, ops []store.SaveOp) []store.SaveResult {
	if s.closed.Load() {
		return store.FailAll(len(ops), store.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return store.FailAll(len(ops), err)
	}
	out := make([]store.SaveResult, len(ops))
	type prepared struct {
		i               int
		rec             store.Record
		access, refresh []byte
		scopes, intents string
		expect          int64
	}
	now := s.now()
	var todo []prepared
	for i, op := range ops {
		if err := store.CheckSave(op.Record, op.ExpectVersion); err != nil {
			out[i].Err = err
			continue
		}
		rec := op.Record
		rec.UpdatedAt = now
		rec = rec.Normalize()
		p := prepared{i: i, rec: rec, expect: op.ExpectVersion}
		var err error
		if p.access, p.refresh, err = s.cipher.SealTokens(rec); err == nil {
			if p.scopes, err = encodeList(rec.Scopes); err == nil {
				p.intents, err = encodeList(rec.Intents)
			}
		}
		if err != nil {
			out[i].Err = err
			continue
		}
		todo = append(todo, p)
	}
	if len(todo) == 0 {
		return out
	}
	fail := func(what string, err error) []store.SaveResult {
		err = s.wrap(what, err)
		for _, p := range todo {
			out[p.i] = store.SaveResult{Err: err}
		}
		return out
	}
	tx, err := s.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE (see dsn)
	if err != nil {
		return fail(fmt.Sprintf("saving a batch of %d records", len(todo)), err)
	}
	defer tx.Rollback()
	// One range of versions for the batch: a conflicting op leaves a gap,
	// which is allowed (versions increase and are never reused).
	var last int64
	if err := tx.QueryRowContext(ctx, `UPDATE version_seq SET value = value + ? WHERE id = 1 RETURNING value`, len(todo)).Scan(&last); err != nil {
		return fail(fmt.Sprintf("saving a batch of %d records", len(todo)), err)
	}
	insert, err := tx.PrepareContext(ctx, `INSERT INTO tokens (version, client_id, user_id, login, access_token, refresh_token,
	token_type, scopes, expiry, intents, status, last_validated, updated_at, key)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (key) DO NOTHING`)
	if err != nil {
		return fail("preparing the batch", err)
	}
	defer insert.Close()
	update, err := tx.PrepareContext(ctx, `UPDATE tokens SET version = ?, client_id = ?, user_id = ?, login = ?,
	access_token = ?, refresh_token = ?, token_type = ?, scopes = ?, expiry = ?, intents = ?, status = ?,
	last_validated = ?, updated_at = ?
	WHERE key = ? AND version = ?`)
	if err != nil {
		return fail("preparing the batch", err)
	}
	defer update.Close()
	current, err := tx.PrepareContext(ctx, `SELECT version FROM tokens WHERE key = ?`)
	if err != nil {
		return fail("preparing the batch", err)
	}
	defer current.Close()
	first := last - int64(len(todo)) + 1
	ok := make([]bool, len(todo))
	for j, p := range todo {
		version := first + int64(j)
		rec := p.rec
		args := []any{
			version, rec.ClientID, rec.UserID, rec.Login, p.access, p.refresh, rec.TokenType,
			p.scopes, timeArg(rec.Expiry), p.intents, rec.Status, timeArg(rec.LastValidated), rec.UpdatedAt.UnixMicro(),
			rec.Key,
		}
		var res sql.Result
		if p.expect == 0 {
			res, err = insert.ExecContext(ctx, args...)
		} else {
			res, err = update.ExecContext(ctx, append(args, p.expect)...)
		}
		if err != nil {
			return fail(fmt.Sprintf("saving %q", rec.Key), err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fail(fmt.Sprintf("saving %q", rec.Key), err)
		}
		if n == 0 {
			var cur int64
			if err := current.QueryRowContext(ctx, rec.Key).Scan(&cur); err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fail(fmt.Sprintf("saving %q", rec.Key), err)
			}
			out[p.i].Err = &store.ConflictError{Key: rec.Key, Expected: p.expect, Current: cur}
			continue
		}
		rec.Version = version
		out[p.i].Record = rec
		ok[j] = true
	}
	if err := tx.Commit(); err != nil {
		err = s.wrap(fmt.Sprintf("committing a batch of %d records", len(todo)), err)
		for j, p := range todo {
			if ok[j] || out[p.i].Err == nil {
				out[p.i] = store.SaveResult{Err: err}
			}
		}
		return out
	}
	return out
}
