package store

import "context"

var _ BatchSaver = (*Memory)(nil)

// SaveBatch performs every op as Save would, under one lock (see
// BatchSaver); the memory store has nothing to make durable.
func (m *Memory) SaveBatch(ctx context.Context, ops []SaveOp) []SaveResult {
	if err := ctx.Err(); err != nil {
		return FailAll(len(ops), err)
	}
	out := make([]SaveResult, len(ops))
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return FailAll(len(ops), ErrClosed)
	}
	now := m.now()
	for i, op := range ops {
		rec := op.Record
		if err := CheckSave(rec, op.ExpectVersion); err != nil {
			out[i].Err = err
			continue
		}
		cur := m.records[rec.Key] // zero Version when absent
		if cur.Version != op.ExpectVersion {
			out[i].Err = &ConflictError{Key: rec.Key, Expected: op.ExpectVersion, Current: cur.Version}
			continue
		}
		m.seq++
		rec.Version = m.seq
		rec.UpdatedAt = now
		rec = rec.Normalize()
		m.records[rec.Key] = rec
		out[i].Record = rec.Clone()
	}
	return out
}
