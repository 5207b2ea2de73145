package sqlite

import (
	"context"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/twitchauth/twitchauth/store"
)

var _ store.ValidationClaimer = (*Store)(nil)

// neverValidated is validated_at of a record never validated (the
// migration's -9223372036854775808).
const neverValidated = math.MinInt64

// ClaimDue implements store.ValidationClaimer in one UPDATE … WHERE key IN
// (SELECT … LIMIT) RETURNING statement: SQLite runs each write statement
// alone (one writer at a time), so two processes sharing the file never
// claim the same key. The inner SELECT is one range of the
// validation_schedule_due index, walked in order until the limit. It writes only the validation_schedule table.
func (s *Store) ClaimDue(ctx context.Context, c store.ValidationClaim) ([]store.DueGrant, error) {
	if err := c.Check(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := store.NormalizeTime(c.Now)
	rows, err := s.db.QueryContext(ctx, `UPDATE validation_schedule SET claimed_by = ?1, claim_until = ?2
WHERE key IN (
	SELECT s.key FROM validation_schedule s
	WHERE s.validated_at <= ?4
		AND (s.claim_until IS NULL OR s.claim_until <= ?5)
		AND substr(s.key, 1, length(?3)) = ?3
	ORDER BY s.validated_at, s.key
	LIMIT ?6)
RETURNING key, validated_at`, c.Owner, now.Add(c.Lease).UnixMicro(), c.Prefix,
		store.NormalizeTime(c.Before).UnixMicro(), now.UnixMicro(), c.Limit)
	if err != nil {
		return nil, s.wrap("claiming grants to validate", err)
	}
	defer rows.Close()
	var out []store.DueGrant
	for rows.Next() {
		var d store.DueGrant
		var validated int64
		if err := rows.Scan(&d.Key, &validated); err != nil {
			return nil, s.wrap("claiming grants to validate", err)
		}
		if validated != neverValidated {
			d.LastValidated = time.UnixMicro(validated).UTC()
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("claiming grants to validate", err)
	}
	// RETURNING has no order: restore the claim's.
	slices.SortFunc(out, func(a, b store.DueGrant) int {
		if n := a.LastValidated.Compare(b.LastValidated); n != 0 {
			return n
		}
		return strings.Compare(a.Key, b.Key)
	})
	return out, nil
}

// MarkValidated implements store.ValidationClaimer in one UPDATE.
func (s *Store) MarkValidated(ctx context.Context, owner string, keys []string, at time.Time) error {
	if len(keys) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	args := []any{store.NormalizeTime(at).UnixMicro(), owner}
	for _, k := range keys {
		args = append(args, k)
	}
	_, err := s.db.ExecContext(ctx, `UPDATE validation_schedule SET
	validated_at = max(validated_at, ?1),
	claimed_by = CASE WHEN claimed_by = ?2 THEN NULL ELSE claimed_by END,
	claim_until = CASE WHEN claimed_by = ?2 THEN NULL ELSE claim_until END
WHERE key IN (?`+strings.Repeat(", ?", len(keys)-1)+`)`, args...)
	if err != nil {
		return s.wrap("marking grants validated", err)
	}
	return nil
}
