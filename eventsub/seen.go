package eventsub

import (
	"context"
	"sync"
	"time"
)

// SeenStore remembers the IDs of the messages already accepted, so that a
// message delivered twice (Twitch delivers "at least once", and a resend
// keeps its Message-Id) or replayed is processed once. One store may be
// shared by several Verifiers, and a fleet of processes behind one callback
// URL can share one through their database.
//
// An ID needs to be kept only until its expiry: the message's timestamp
// plus the Verifier's MaxAge. After that the timestamp check refuses the
// message anyway.
type SeenStore interface {
	// MarkSeen records id until expires. It reports whether id was already
	// recorded (and not expired): then the message is a duplicate. It must
	// be atomic: of two concurrent calls with one id, exactly one reports
	// false.
	MarkSeen(ctx context.Context, id string, expires time.Time) (duplicate bool, err error)
	// Forget removes id, so that a resend of a message whose processing
	// failed is processed again. Forgetting an unknown id is not an error.
	Forget(ctx context.Context, id string) error
}

// DefaultMaxSeen is how many message IDs NewMemorySeenStore keeps when
// given no limit: 100,000 IDs, about 170 messages a second sustained over
// the 10-minute window, in roughly 15 MB.
const DefaultMaxSeen = 100_000

// MemorySeenStore is a SeenStore in memory with bounded size: it keeps at
// most Max IDs, dropping expired IDs first and, when still full, the oldest
// recorded ones (a resend of a dropped ID would be processed again). It is
// safe for concurrent use.
type MemorySeenStore struct {
	mu    sync.Mutex
	max   int
	ids   map[string]int64 // id → expiry, Unix nanoseconds
	queue []seenEntry      // ring buffer of insertions, oldest at head
	head  int
	n     int
	now   func() time.Time

	evicted int64
}

type seenEntry struct {
	id      string
	expires int64
}

// NewMemorySeenStore returns a MemorySeenStore keeping at most max IDs
// (DefaultMaxSeen when max <= 0).
func NewMemorySeenStore(max int) *MemorySeenStore {
	if max <= 0 {
		max = DefaultMaxSeen
	}
	return &MemorySeenStore{max: max, ids: make(map[string]int64), queue: make([]seenEntry, 0, min(max, 1024)), now: time.Now}
}

// MarkSeen implements SeenStore.
func (m *MemorySeenStore) MarkSeen(_ context.Context, id string, expires time.Time) (bool, error) {
	now := m.now().UnixNano()
	exp := expires.UnixNano()
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.ids[id]; ok {
		if e > now {
			return true, nil
		}
		delete(m.ids, id) // expired: record it afresh below
	}
	m.dropExpired(now)
	for m.n >= m.max {
		if m.popHead() {
			m.evicted++
		}
	}
	m.push(seenEntry{id: id, expires: exp})
	m.ids[id] = exp
	return false, nil
}

// Forget implements SeenStore. The ID's queue slot is reclaimed when it
// reaches the head.
func (m *MemorySeenStore) Forget(_ context.Context, id string) error {
	m.mu.Lock()
	delete(m.ids, id)
	m.mu.Unlock()
	return nil
}

// Len returns the number of IDs recorded and not yet dropped (expired IDs
// are dropped lazily, on the next MarkSeen).
func (m *MemorySeenStore) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.ids)
}

// Evicted returns how many unexpired IDs were dropped because the store was
// full. A non-zero value means the limit is too small for the message rate.
func (m *MemorySeenStore) Evicted() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.evicted
}

// dropExpired pops head entries that expired or were forgotten or
// re-recorded. Entries behind a long-lived head wait for it (expiries are
// nearly in insertion order: a message's timestamp plus a fixed MaxAge).
func (m *MemorySeenStore) dropExpired(now int64) {
	for m.n > 0 {
		e := m.queue[m.head]
		cur, ok := m.ids[e.id]
		if ok && cur == e.expires && e.expires > now {
			return
		}
		m.popHead()
	}
}

// popHead removes the oldest queue entry, and its ID when the ID still
// belongs to that entry; it reports whether it removed an ID.
func (m *MemorySeenStore) popHead() bool {
	e := m.queue[m.head]
	live := false
	if cur, ok := m.ids[e.id]; ok && cur == e.expires {
		delete(m.ids, e.id)
		live = true
	}
	m.queue[m.head] = seenEntry{}
	m.head++
	if m.head == len(m.queue) {
		m.head = 0
	}
	m.n--
	return live
}

// push appends e, growing the ring up to max entries.
func (m *MemorySeenStore) push(e seenEntry) {
	if m.n == len(m.queue) {
		// Grow: unroll the ring into a larger slice.
		next := make([]seenEntry, m.n, min(m.max, max(2*m.n, 16)))
		for i := 0; i < m.n; i++ {
			next[i] = m.queue[(m.head+i)%len(m.queue)]
		}
		m.queue = next[:cap(next)]
		m.head = 0
	}
	m.queue[(m.head+m.n)%len(m.queue)] = e
	m.n++
}
