package twitchtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
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
// per limit.per, except while it is held empty (ExhaustRateLimit).
type bucket struct {
	level float64
	at    time.Time
	limit rateLimit
	// heldUntil, when set, keeps the bucket empty until that time, when
	// it is full again.
	heldUntil time.Time
}

// refill brings the bucket's level up to now.
func (b *bucket) refill(now time.Time) {
	if !b.heldUntil.IsZero() {
		if now.Before(b.heldUntil) {
			b.level, b.at = 0, now
			return
		}
		b.level, b.at, b.heldUntil = float64(b.limit.points), now, time.Time{}
		return
	}
	if el := now.Sub(b.at); el > 0 {
		b.level = math.Min(float64(b.limit.points), b.level+float64(el)*float64(b.limit.points)/float64(b.limit.per))
		b.at = now
	}
}

func (b *bucket) state(now time.Time) bucketState {
	if !b.heldUntil.IsZero() {
		return bucketState{limit: b.limit.points, remaining: 0, reset: b.heldUntil}
	}
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

// hold empties key's bucket and keeps it empty until now plus the time an
// empty bucket takes to refill, truncated to a whole second so that
// Ratelimit-Reset names that instant exactly; then the bucket is full.
func (l *rateLimiter) hold(key string, lim rateLimit, now time.Time) bucketState {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.get(key, lim, now)
	until := now.Add(lim.per).Truncate(time.Second)
	if !until.After(now) {
		until = now.Add(time.Second).Truncate(time.Second)
	}
	b.level, b.at, b.heldUntil = 0, now, until
	return b.state(now)
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

// HelixBucket names one of Helix's rate-limit buckets (see doc.go).
type HelixBucket struct {
	// ClientID is the client whose bucket it is. Required.
	ClientID string
	// UserID selects the bucket of user tokens of ClientID for that user.
	UserID string
	// OpaqueUserID selects the bucket of an extension viewer calling
	// Helix with a Helix JWT (Authorization: Extension). At most one of
	// UserID and OpaqueUserID is set; with neither, the bucket is the
	// client's app bucket (app tokens and EBS JWTs).
	OpaqueUserID string
}

// RateLimitState is a bucket's state as the Ratelimit-* headers report it.
type RateLimitState struct {
	// Limit is the bucket's size (Ratelimit-Limit).
	Limit int
	// Remaining is the whole points left (Ratelimit-Remaining).
	Remaining int
	// Reset is when the bucket is full again (Ratelimit-Reset).
	Reset time.Time
}

// ExhaustRateLimit empties bucket b and holds it empty until its reset, so
// that a 429 can be rehearsed without timing: every Helix request drawing
// from b answers 429 with Ratelimit-Remaining 0 and Ratelimit-Reset at that
// instant, and at the reset the bucket is full again. The reset is the time
// an empty bucket of that limit takes to refill (one minute by default),
// truncated to a whole second. It returns the bucket's state; it fails for
// an unknown client or user, or when both UserID and OpaqueUserID are set.
// POST /_sandbox/ratelimit/exhaust does the same over HTTP.
func (s *Server) ExhaustRateLimit(b HelixBucket) (RateLimitState, error) {
	key, lim, err := s.bucketKey(b)
	if err != nil {
		return RateLimitState{}, err
	}
	st := s.limiter.hold(key, lim, s.now())
	s.log.Debug("helix bucket held empty", "client_id", b.ClientID, "user_id", b.UserID, "opaque_user_id", b.OpaqueUserID, "until", st.reset)
	return RateLimitState{Limit: st.limit, Remaining: st.remaining, Reset: st.reset}, nil
}

// bucketKey returns the limiter key and limit of b, as bucketFor names the
// bucket of a request.
func (s *Server) bucketKey(b HelixBucket) (string, rateLimit, error) {
	c, ok := s.Client(b.ClientID)
	if !ok {
		return "", rateLimit{}, fmt.Errorf("%w: %q", ErrUnknownClient, b.ClientID)
	}
	switch {
	case b.UserID != "" && b.OpaqueUserID != "":
		return "", rateLimit{}, errors.New("twitchtest: a Helix bucket is a user's or an extension viewer's, not both")
	case b.UserID != "":
		s.mu.RLock()
		_, ok := s.users[b.UserID]
		s.mu.RUnlock()
		if !ok {
			return "", rateLimit{}, fmt.Errorf("%w: id %q", ErrUnknownUser, b.UserID)
		}
		return "user:" + c.ID + ":" + b.UserID, s.helixLimit(), nil
	case b.OpaqueUserID != "":
		return "viewer:" + c.ID + ":" + b.OpaqueUserID, s.viewerLimit(), nil
	}
	return "app:" + c.ID, s.helixLimit(), nil
}

// exhaustRequest is POST /_sandbox/ratelimit/exhaust's body.
type exhaustRequest struct {
	ClientID     string `json:"client_id"`
	UserID       string `json:"user_id"`
	OpaqueUserID string `json:"opaque_user_id"`
}

// exhaustResponse is its answer: the bucket's Ratelimit-* values.
type exhaustResponse struct {
	Limit     int    `json:"limit"`
	Remaining int    `json:"remaining"`
	Reset     int64  `json:"reset"`
	ResetAt   string `json:"reset_at"`
}

// handleExhaust serves POST /_sandbox/ratelimit/exhaust (loopback callers
// only): ExhaustRateLimit over HTTP, for `twitchauth mock` and the rig.
func (s *Server) handleExhaust(w http.ResponseWriter, r *http.Request) {
	if !isLoopback(r) {
		writeError(w, http.StatusForbidden, "the rate-limit endpoint answers loopback callers only")
		return
	}
	var req exhaustRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxHelixBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid request body: send {\"client_id\", and \"user_id\" or \"opaque_user_id\"}")
		return
	}
	if req.ClientID == "" {
		writeError(w, http.StatusBadRequest, "missing client_id")
		return
	}
	st, err := s.ExhaustRateLimit(HelixBucket(req))
	switch {
	case errors.Is(err, ErrUnknownClient), errors.Is(err, ErrUnknownUser):
		writeError(w, http.StatusNotFound, strings.TrimPrefix(err.Error(), "twitchtest: "))
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, strings.TrimPrefix(err.Error(), "twitchtest: "))
		return
	}
	writeJSON(w, http.StatusOK, exhaustResponse{Limit: st.Limit, Remaining: st.Remaining, Reset: st.Reset.Unix(), ResetAt: st.Reset.UTC().Format(time.RFC3339)})
}
