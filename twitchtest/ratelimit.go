package twitchtest

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Default Helix rate limits, from Twitch's documentation (see doc.go).
const (
	// DefaultHelixRatePoints is the size of the app bucket (per client) and
	// of each user bucket (per client per user): "800 points per minute".
	DefaultHelixRatePoints = 800
	// DefaultExtensionViewerRatePoints is the size of each extension
	// viewer's bucket: "30 requests per minute per Extension viewer".
	DefaultExtensionViewerRatePoints = 30
	// DefaultExtensionPubSubRatePoints bounds Send Extension PubSub Message:
	// 100 messages per minute per extension client ID and broadcaster.
	DefaultExtensionPubSubRatePoints = 100
	// DefaultRatePeriod is the time an empty bucket takes to refill.
	DefaultRatePeriod = time.Minute
)

// rateLimit is a bucket size and the time an empty bucket takes to refill.
type rateLimit struct {
	points int
	per    time.Duration
}

// or returns l, or def when l is unset.
func (l rateLimit) or(def rateLimit) rateLimit {
	if l.points <= 0 || l.per <= 0 {
		return def
	}
	return l
}

// bucketState is what the Ratelimit-* headers report.
type bucketState struct {
	limit     int
	remaining int
	reset     time.Time // when the bucket is full again
}

// bucket is one token bucket; points refill continuously at limit.points
// per limit.per.
type bucket struct {
	level float64
	at    time.Time
	limit rateLimit
}

// refill brings the bucket's level up to now.
func (b *bucket) refill(now time.Time) {
	if el := now.Sub(b.at); el > 0 {
		b.level = math.Min(float64(b.limit.points), b.level+float64(el)*float64(b.limit.points)/float64(b.limit.per))
		b.at = now
	}
}

func (b *bucket) state(now time.Time) bucketState {
	missing := float64(b.limit.points) - b.level
	reset := now
	if missing > 0 {
		reset = now.Add(time.Duration(math.Ceil(missing * float64(b.limit.per) / float64(b.limit.points))))
	}
	return bucketState{limit: b.limit.points, remaining: int(math.Floor(b.level + 1e-9)), reset: reset}
}

// rateLimiter holds the sandbox's token buckets by key. It has its own lock
// so that rate limiting never waits on s.mu.
type rateLimiter struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

// maxBuckets is the count above which full (idle) buckets are dropped.
const maxBuckets = 10_000

// get returns the bucket of key, creating it full. Callers hold l.mu.
func (l *rateLimiter) get(key string, lim rateLimit, now time.Time) *bucket {
	b, ok := l.buckets[key]
	if !ok || b.limit != lim {
		if l.buckets == nil {
			l.buckets = make(map[string]*bucket)
		}
		if len(l.buckets) >= maxBuckets {
			l.pruneLocked(now)
		}
		b = &bucket{level: float64(lim.points), at: now, limit: lim}
		l.buckets[key] = b
	}
	b.refill(now)
	return b
}

// pruneLocked drops the buckets that are full: they hold no information.
func (l *rateLimiter) pruneLocked(now time.Time) {
	for k, b := range l.buckets {
		b.refill(now)
		if b.level >= float64(b.limit.points) {
			delete(l.buckets, k)
		}
	}
}

// take removes cost points from key's bucket if it holds that many and
// reports whether it did, with the bucket's state afterwards.
func (l *rateLimiter) take(key string, lim rateLimit, cost int, now time.Time) (bool, bucketState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.get(key, lim, now)
	ok := b.level+1e-9 >= float64(cost)
	if ok {
		b.level = math.Max(0, b.level-float64(cost))
	}
	return ok, b.state(now)
}

// peek returns the state of key's bucket without taking points.
func (l *rateLimiter) peek(key string, lim rateLimit, now time.Time) bucketState {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.get(key, lim, now).state(now)
}

// reset empties the limiter: every bucket is full again.
func (l *rateLimiter) reset() {
	l.mu.Lock()
	l.buckets = nil
	l.mu.Unlock()
}

// setRateHeaders writes Twitch's Ratelimit-Limit, Ratelimit-Remaining and
// Ratelimit-Reset (Unix seconds, rounded up, when the bucket is full again).
func setRateHeaders(h http.Header, st bucketState) {
	h.Set("Ratelimit-Limit", strconv.Itoa(st.limit))
	h.Set("Ratelimit-Remaining", strconv.Itoa(st.remaining))
	reset := st.reset.Unix()
	if st.reset.Nanosecond() != 0 {
		reset++
	}
	h.Set("Ratelimit-Reset", strconv.FormatInt(reset, 10))
}

// ResetRateLimits refills every Helix bucket (app, user, extension viewer
// and extension PubSub).
func (s *Server) ResetRateLimits() { s.limiter.reset() }
