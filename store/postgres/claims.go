package postgres

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/twitchauth/twitchauth/store"
)

var _ store.ValidationClaimer = (*Store)(nil)

// claimQuery claims due grants in one statement. The inner SELECT … FOR
// UPDATE SKIP LOCKED locks the due rows it picks and passes over the rows
// another replica's claim is locking at that instant, so concurrent
// claimers never wait on each other and never pick the same row; the outer
// UPDATE stamps the claim. The inner query is one range of the
// validation_schedule_due index (validated_at is NOT NULL, '-infinity' for
// never), walked in its order until $6 rows: its cost grows with the batch,
// not with the number of grants. (Hence no join with tokens, and a prefix
// test written with left(), which PostgreSQL does not turn into a range on
// the primary key as it would starts_with or LIKE: that plan sorts every due
// grant on every claim.)
const claimQuery = `UPDATE validation_schedule v SET claimed_by = $1, claim_until = $2
WHERE v.key IN (
	SELECT s.key FROM validation_schedule s
	WHERE s.validated_at <= $4
		AND (s.claim_until IS NULL OR s.claim_until <= $5)
		AND left(s.key, length($3)) = $3
	ORDER BY s.validated_at, s.key
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
		validated pgtype.Timestamptz // -infinity: never
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
	out := make([]store.DueGrant, len(dues))
	for i, d := range dues {
		out[i].Key = d.key
		if d.validated.InfinityModifier == pgtype.Finite {
			out[i].LastValidated = store.NormalizeTime(d.validated.Time)
		}
	}
	slices.SortFunc(out, func(a, b store.DueGrant) int {
		if n := a.LastValidated.Compare(b.LastValidated); n != 0 {
			return n
		}
		return strings.Compare(a.Key, b.Key)
	})
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
