package postgres

import (
	"context"
	"errors"

	"github.com/twitchauth/twitchauth/store"
)

var _ store.Walker = (*Store)(nil)

// Walk calls fn with every record, sorted by key (byte order), one row at a
// time (see store.Walker): a replica loading 100,000 grants holds no list of
// them all. Records that cannot be decrypted or decoded are skipped and
// named by the *store.UnreadableError returned at the end.
func (s *Store) Walk(ctx context.Context, fn func(store.Record) error) error {
	if err := s.usable(ctx); err != nil {
		return err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+selectColumns+` FROM tokens ORDER BY key`) // key is COLLATE "C"
	if err != nil {
		return s.wrap("listing records", err)
	}
	defer rows.Close()
	var bad []store.UnreadableRecord
	for rows.Next() {
		rec, err := s.scan(rows)
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
