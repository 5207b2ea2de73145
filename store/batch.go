package store

import (
	"context"
	"errors"
)

// SaveOp is one compare-and-swap write of a batch: Save(Record,
// ExpectVersion), done together with others.
type SaveOp struct {
	Record        Record
	ExpectVersion int64
}

// SaveResult is the outcome of one SaveOp: the saved record (as Save
// returns it) or the error Save would have returned for it alone.
type SaveResult struct {
	Record Record
	Err    error
}

// BatchSaver is implemented by stores that can write many records for the
// cost of one durable commit (one fsync) instead of one per record. The
// Provider uses it for the writes of a validation round, which never rotate
// a token (see SaveAll); renewals keep using Save, one durable write each,
// before the new token is handed out.
type BatchSaver interface {
	// SaveBatch performs every op as Save would: the same validation, the
	// same per-record compare-and-swap on ExpectVersion, the same
	// normalized result with a new Version. It returns one result per op,
	// in order. Ops are independent: a conflict or an invalid record fails
	// that op alone (its result carries the *ConflictError or the error
	// wrapping ErrInvalidRecord) and the others are still written. An error
	// of the store itself (I/O, closed, canceled) fails every op that was
	// not yet durable.
	//
	// SaveBatch is atomic for the ops it writes and durable when it returns:
	// every op whose result has a nil Err survives a crash or power loss
	// from then on; if the process dies before SaveBatch returns, either
	// all of its successful ops are stored or none is. Two ops on the same
	// key in one batch are applied in order (the second must expect the
	// version the first produced, which the caller cannot know: callers
	// give one op per key).
	SaveBatch(ctx context.Context, ops []SaveOp) []SaveResult
}

// SaveAll saves ops through s.SaveBatch when s is a BatchSaver and one Save
// at a time otherwise, returning one result per op.
func SaveAll(ctx context.Context, s Store, ops []SaveOp) []SaveResult {
	if b, ok := s.(BatchSaver); ok {
		return b.SaveBatch(ctx, ops)
	}
	out := make([]SaveResult, len(ops))
	for i, op := range ops {
		out[i].Record, out[i].Err = s.Save(ctx, op.Record, op.ExpectVersion)
	}
	return out
}

// FailAll returns a result per op, each failing with err: what a
// BatchSaver returns when the store itself fails.
func FailAll(n int, err error) []SaveResult {
	out := make([]SaveResult, n)
	for i := range out {
		out[i].Err = err
	}
	return out
}

// Walker is implemented by stores that can hand out their records one at a
// time, so that loading many grants does not hold a list of them all.
type Walker interface {
	// Walk calls fn with every record List would return, in the same order
	// (sorted by key, byte order), one at a time. Records that cannot be
	// read are skipped and named by the *UnreadableError Walk returns after
	// the last call, as List does. If fn returns an error, Walk stops and
	// returns it.
	Walk(ctx context.Context, fn func(Record) error) error
}

// WalkAll calls fn with every record of s: through Walk when s is a
// Walker, else through List. Its error is List's or Walk's.
func WalkAll(ctx context.Context, s Store, fn func(Record) error) error {
	if w, ok := s.(Walker); ok {
		return w.Walk(ctx, fn)
	}
	recs, err := s.List(ctx)
	var ue *UnreadableError
	if err != nil && !errors.As(err, &ue) {
		return err
	}
	for _, r := range recs {
		if ferr := fn(r); ferr != nil {
			return ferr
		}
	}
	return err
}
