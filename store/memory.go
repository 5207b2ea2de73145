package store

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"
)

// Memory is a Store that keeps records in process memory. It is meant for
// tests, short-lived programs and single-process services that can afford to
// ask users to authorize again after a restart. It does not encrypt.
//
// The zero value is not usable; call NewMemory.
type Memory struct {
	mu      sync.Mutex
	records map[string]Record
	sched   map[string]schedule // validation schedule per key (memory_claims.go)
	seq     int64               // last version handed out, store-wide
	closed  bool
	now     func() time.Time
}

var (
	_ Store             = (*Memory)(nil)
	_ ValidationClaimer = (*Memory)(nil)
)

// NewMemory returns an empty memory store.
func NewMemory() *Memory {
	return &Memory{records: make(map[string]Record), sched: make(map[string]schedule), now: time.Now}
}

// Load returns the record for key, or an error wrapping ErrNotFound.
func (m *Memory) Load(ctx context.Context, key string) (Record, error) {
	if err := ctx.Err(); err != nil {
		return Record{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return Record{}, ErrClosed
	}
	rec, ok := m.records[key]
	if !ok {
		return Record{}, NotFoundError(key)
	}
	return rec.Clone(), nil
}

// Save writes rec if the stored version equals expectVersion; see
// Store.Save.
func (m *Memory) Save(ctx context.Context, rec Record, expectVersion int64) (Record, error) {
	if err := CheckSave(rec, expectVersion); err != nil {
		return Record{}, err
	}
	if err := ctx.Err(); err != nil {
		return Record{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return Record{}, ErrClosed
	}
	cur := m.records[rec.Key] // zero Version when absent
	if cur.Version != expectVersion {
		return Record{}, &ConflictError{Key: rec.Key, Expected: expectVersion, Current: cur.Version}
	}
	m.seq++
	rec.Version = m.seq
	rec.UpdatedAt = m.now()
	rec = rec.Normalize()
	if expectVersion == 0 {
		m.sched[rec.Key] = schedule{validated: rec.LastValidated}
	}
	m.records[rec.Key] = rec
	return rec.Clone(), nil
}

// Delete removes key; deleting an absent key is not an error.
func (m *Memory) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	delete(m.records, key)
	delete(m.sched, key)
	return nil
}

// List returns every record, sorted by key.
func (m *Memory) List(ctx context.Context) ([]Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	out := make([]Record, 0, len(m.records))
	for _, rec := range m.records {
		out = append(out, rec.Clone())
	}
	slices.SortFunc(out, func(a, b Record) int { return cmp.Compare(a.Key, b.Key) })
	return out, nil
}

// Close discards the records. Later calls return ErrClosed; closing twice is
// not an error.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.records, m.sched = nil, nil
	return nil
}
