package postgres

import (
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/twitchauth/twitchauth/store"
)

var _ store.ValidationClaimer = (*Store)(nil)

// claimQuery claims due grants in one statement. The inner SELECT … FOR
// UPDATE SKIP LOCKED locks the due rows it picks and passes over the rows
// another replica's claim is locking at that instant, so concurrent
// claimers never wait on each other and never pick the same row; the outer
// UPDATE stamps the claim. Rows are read longest-unvalidated first through
// the validation_schedule_due index.
const claimQuery = `UPDATE validation_schedule v SET claimed_by = $1, claim_until = $2
WHERE v.key IN (
	SELECT s.key FROM validation_schedule s JOIN tokens t ON t.key = s.key
	WHERE starts_with(s.key, $3)
		AND (s.validated_at IS NULL OR s.validated_at <= $4)
		AND (s.claim_until IS NULL OR s.claim_until <= $5)
		AND t.status IN ('', 'active')
	ORDER BY s.validated_at NULLS FIRST, s.key
	LIMIT $6
	FOR UPDATE OF s SKIP LOCKED)
RETURNING v.key, v.validated_at`

// ClaimDue implements store.ValidationClaimer with one UPDATE … WHERE key IN
// (SELECT … FOR UPDATE SKIP LOCKED) RETURNING statement (see claimQuery).
// Claiming writes only the narrow validation_schedule table: no token row is
// rewritten and no replica is told to reload.
func (s *Store) ClaimDue(ctx context.Context, c store.ValidationClaim) ([]store.DueGrant, error) {
	if err := c.Check(); err != nil {
		return nil, err
	}
	if err := s.usable(ctx); err != nil {
		return nil, err
	}
	now := store.NormalizeTime(c.Now)
	rows, err := s.pool.Query(ctx, claimQuery, c.Owner, now.Add(c.Lease), c.Prefix,
		store.NormalizeTime(c.Before), now, c.Limit)
	if err != nil {
		return nil, s.wrap("claiming grants to validate", err)
	}
	type due struct {
		key       string
		validated *time.Time
	}
	dues, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (due, error) {
		var d due
		err := r.Scan(&d.key, &d.validated)
		return d, err
	})
	if err != nil {
		return nil, s.wrap("claiming grants to validate", err)
	}
	// RETURNING has no order: restore the claim's.
	slices.SortFunc(dues, func(a, b due) int {
		switch {
		case a.validated == nil && b.validated != nil:
			return -1
		case a.validated != nil && b.validated == nil:
			return 1
		case a.validated != nil:
			if n := a.validated.Compare(*b.validated); n != 0 {
				return n
			}
		}
		if a.key < b.key {
			return -1
		}
		if a.key > b.key {
			return 1
		}
		return 0
	})
	out := make([]store.DueGrant, len(dues))
	for i, d := range dues {
		out[i].Key = d.key
		if d.validated != nil {
			out[i].LastValidated = store.NormalizeTime(*d.validated)
		}
	}
	return out, nil
}

// MarkValidated implements store.ValidationClaimer in one UPDATE: the
// validation time moves forward only, and the claims owner holds are
// released.
func (s *Store) MarkValidated(ctx context.Context, owner string, keys []string, at time.Time) error {
	if len(keys) == 0 {
		return nil
	}
	if err := s.usable(ctx); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, `UPDATE validation_schedule SET
	validated_at = GREATEST(validated_at, $2),
	claimed_by = CASE WHEN claimed_by = $3 THEN NULL ELSE claimed_by END,
	claim_until = CASE WHEN claimed_by = $3 THEN NULL ELSE claim_until END
WHERE key = ANY($1)`, keys, store.NormalizeTime(at), owner)
	if err != nil {
		return s.wrap("marking grants validated", err)
	}
	return nil
}
