package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/twitchauth/twitchauth/store"
)

// The statements of Save and SaveBatch: $1 is the key, $14 (updates only)
// the expected version.
const (
	insertQuery = `INSERT INTO tokens (key, client_id, user_id, login, access_token, refresh_token, token_type,
	scopes, expiry, intents, status, last_validated, updated_at, version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, nextval('version_seq'))
ON CONFLICT (key) DO NOTHING
RETURNING version`
	updateQuery = `UPDATE tokens SET client_id = $2, user_id = $3, login = $4, access_token = $5, refresh_token = $6,
	token_type = $7, scopes = $8, expiry = $9, intents = $10, status = $11, last_validated = $12, updated_at = $13,
	version = nextval('version_seq')
WHERE key = $1 AND version = $14
RETURNING version`
)

// saveArgs are the arguments $1 to $13 of insertQuery and updateQuery.
func saveArgs(rec store.Record, access, refresh []byte) []any {
	return []any{
		rec.Key, rec.ClientID, rec.UserID, rec.Login, access, refresh, rec.TokenType,
		list(rec.Scopes), timeArg(rec.Expiry), list(rec.Intents), rec.Status, timeArg(rec.LastValidated), rec.UpdatedAt,
	}
}

var _ store.BatchSaver = (*Store)(nil)

// SaveBatch performs every op as Save would, pipelined in one transaction:
// one commit (one WAL flush with synchronous_commit on) and one round trip
// for the whole batch instead of one each (see store.BatchSaver). An op
// whose version does not match writes nothing and gets its
// *store.ConflictError; the others are committed, each notifying
// RecordsChannel at the commit. A database error rolls the whole batch back
// and fails every op with it.
func (s *Store) SaveBatch(ctx context.Context, ops []store.SaveOp) []store.SaveResult {
	if err := s.usable(ctx); err != nil {
		return store.FailAll(len(ops), err)
	}
	out := make([]store.SaveResult, len(ops))
	now := s.now()
	var idx []int // ops in the batch, in order
	var b pgx.Batch
	for i, op := range ops {
		if err := store.CheckSave(op.Record, op.ExpectVersion); err != nil {
			out[i].Err = err
			continue
		}
		rec := op.Record
		rec.UpdatedAt = now
		rec = rec.Normalize()
		access, refresh, err := s.cipher.SealTokens(rec)
		if err != nil {
			out[i].Err = err
			continue
		}
		args := saveArgs(rec, access, refresh)
		if op.ExpectVersion == 0 {
			b.Queue(insertQuery, args...)
		} else {
			b.Queue(updateQuery, append(args, op.ExpectVersion)...)
		}
		out[i].Record = rec
		idx = append(idx, i)
	}
	if len(idx) == 0 {
		return out
	}
	fail := func(err error) []store.SaveResult {
		err = s.wrap(fmt.Sprintf("saving a batch of %d records", len(idx)), err)
		for _, i := range idx {
			if _, conflict := out[i].Err.(*store.ConflictError); !conflict {
				out[i] = store.SaveResult{Err: err}
			}
		}
		return out
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	br := tx.SendBatch(ctx, &b)
	var conflicts []int
	for _, i := range idx {
		var version int64
		err := br.QueryRow().Scan(&version)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			conflicts = append(conflicts, i)
		case err != nil:
			br.Close()
			return fail(err)
		default:
			out[i].Record.Version = version
		}
	}
	if err := br.Close(); err != nil {
		return fail(err)
	}
	for _, i := range conflicts {
		key := ops[i].Record.Key
		var current int64
		if err := tx.QueryRow(ctx, `SELECT version FROM tokens WHERE key = $1`, key).Scan(&current); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fail(err)
		}
		out[i] = store.SaveResult{Err: &store.ConflictError{Key: key, Expected: ops[i].ExpectVersion, Current: current}}
	}
	if err := tx.Commit(ctx); err != nil {
		return fail(err)
	}
	return out
}
