package sqlite

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"time"

	"github.com/twitchauth/twitchauth/store"
)

var _ store.ValidationClaimer = (*Store)(nil)

// ClaimDue implements store.ValidationClaimer in one UPDATE … WHERE key IN
// (SELECT … LIMIT) RETURNING statement: SQLite runs each write statement
// alone (one writer at a time), so two processes sharing the file never
// claim the same key. It writes only the validation_schedule table.
func (s *Store) ClaimDue(ctx context.Context, c store.ValidationClaim) ([]store.DueGrant, error) {
	if err := c.Check(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := store.NormalizeTime(c.Now)
	rows, err := s.db.QueryContext(ctx, `UPDATE validation_schedule SET claimed_by = ?, claim_until = ?
WHERE key IN (
	SELECT s.key FROM validation_schedule s JOIN tokens t ON t.key = s.key
	WHERE substr(s.key, 1, length(?3)) = ?3
		AND (s.validated_at IS NULL OR s.validated_at <= ?)
		AND (s.claim_until IS NULL OR s.claim_until <= ?)
		AND t.status IN ('', 'active')
	ORDER BY s.validated_at, s.key
	LIMIT ?)
RETURNING key, validated_at`, c.Owner, now.Add(c.Lease).UnixMicro(), c.Prefix,
		store.NormalizeTime(c.Before).UnixMicro(), now.UnixMicro(), c.Limit)
	if err != nil {
		return nil, s.wrap("claiming grants to validate", err)
	}
	defer rows.Close()
	type due struct {
		key       string
		validated sql.NullInt64
	}
	var dues []due
	for rows.Next() {
		var d due
		if err := rows.Scan(&d.key, &d.validated); err != nil {
			return nil, s.wrap("claiming grants to validate", err)
		}
		dues = append(dues, d)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("claiming grants to validate", err)
	}
	// RETURNING has no order: restore the claim's (NULL first).
	slices.SortFunc(dues, func(a, b due) int {
		if a.validated.Valid != b.validated.Valid {
			if !a.validated.Valid {
				return -1
			}
			return 1
		}
		if a.validated.Int64 != b.validated.Int64 {
			if a.validated.Int64 < b.validated.Int64 {
				return -1
			}
			return 1
		}
		return strings.Compare(a.key, b.key)
	})
	out := make([]store.DueGrant, len(dues))
	for i, d := range dues {
		out[i].Key = d.key
		if d.validated.Valid {
			out[i].LastValidated = time.UnixMicro(d.validated.Int64).UTC()
		}
	}
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
	validated_at = max(coalesce(validated_at, ?1), ?1),
	claimed_by = CASE WHEN claimed_by = ?2 THEN NULL ELSE claimed_by END,
	claim_until = CASE WHEN claimed_by = ?2 THEN NULL ELSE claim_until END
WHERE key IN (?`+strings.Repeat(", ?", len(keys)-1)+`)`, args...)
	if err != nil {
		return s.wrap("marking grants validated", err)
	}
	return nil
}
