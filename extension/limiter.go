package extension

import (
	"container/list"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiterSet holds one token bucket per key (a viewer or a channel), at most
// max of them. A bucket idle long enough to be full again is dropped first
// (nothing is lost: a new bucket starts full); when every bucket is busy,
// the least recently used one goes.
type limiterSet struct {
	limit rate.Limit
	burst int
	max   int
	// refill is how long an idle bucket takes to become full.
	refill time.Duration

	mu    sync.Mutex
	byKey map[string]*list.Element
	lru   list.List // front = most recently used; values are *limiterEntry
}

type limiterEntry struct {
	key  string
	lim  *rate.Limiter
	last time.Time
}

func newLimiterSet(limit rate.Limit, burst, max int) *limiterSet {
	s := &limiterSet{limit: limit, burst: burst, max: max, byKey: make(map[string]*list.Element)}
	if limit > 0 && limit != rate.Inf {
		s.refill = time.Duration(math.Ceil(float64(burst) / float64(limit) * float64(time.Second)))
	}
	return s
}

// reserve takes one token for key at now. It returns a reservation to cancel
// if a later check refuses the request, and how long to wait when the bucket
// is empty (then nothing was taken).
func (s *limiterSet) reserve(key string, now time.Time) (*rate.Reservation, time.Duration) {
	s.mu.Lock()
	var e *limiterEntry
	if el, ok := s.byKey[key]; ok {
		e = el.Value.(*limiterEntry)
		s.lru.MoveToFront(el)
	} else {
		s.evict(now)
		e = &limiterEntry{key: key, lim: rate.NewLimiter(s.limit, s.burst)}
		s.byKey[key] = s.lru.PushFront(e)
	}
	e.last = now
	s.mu.Unlock()

	r := e.lim.ReserveN(now, 1)
	if !r.OK() {
		return nil, time.Second
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return nil, d
	}
	return r, 0
}

// evict makes room for one entry; s.mu must be held.
func (s *limiterSet) evict(now time.Time) {
	// Drop buckets that are full again, oldest first.
	for el := s.lru.Back(); el != nil; {
		e := el.Value.(*limiterEntry)
		if now.Sub(e.last) < s.refill {
			break
		}
		prev := el.Prev()
		s.remove(el)
		el = prev
	}
	for s.lru.Len() >= s.max {
		s.remove(s.lru.Back())
	}
}

func (s *limiterSet) remove(el *list.Element) {
	delete(s.byKey, el.Value.(*limiterEntry).key)
	s.lru.Remove(el)
}

// len returns the number of tracked buckets.
func (s *limiterSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Len()
}
