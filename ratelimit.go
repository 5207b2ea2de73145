package twitchauth

import (
	"context"
	"fmt"
	"github.com/twitchauth/twitchauth/internal/ratelimit"
	"math"
	"net/http"
	"sync"
	"time"
)

// MaxBucketRefill is the longest a Helix rate-limit bucket can need to
// refill from empty: Twitch's buckets are sized per minute and refill
// within one (docs/protocol.md#rate-limits). No wait of the Transport or
// the Pacer for a point, a 429's reset or a bucket blocked after a 429
// lasts longer than this, whatever the headers say.
const MaxBucketRefill = time.Minute

// resetSlack is how far past MaxBucketRefill a Ratelimit-Reset may lie and
// still be believed: Reset is rounded to whole seconds, and clocks differ
// a little.
const resetSlack = 2 * time.Second

// resetWait returns how long from now until rl.Reset, and false when that
// reset is not believable: further ahead than a bucket can need
// (MaxBucketRefill, plus resetSlack) — a hostile or broken header, or a
// clock far off Twitch's — or further in the past than resetSlack. An
// unbelievable reset is treated as unknown.
func resetWait(reset, now time.Time) (time.Duration, bool) {
	d := reset.Sub(now)
	if d > MaxBucketRefill+resetSlack || d < -resetSlack {
		return 0, false
	}
	return max(d, 0), true
}

// Pacer keeps one model of a Helix rate-limit bucket per subject (the app,
// each user, each extension viewer) and spaces requests so that a steady
// load never exhausts a bucket.
//
// Each bucket is a token bucket: capacity Ratelimit-Limit, refilled
// continuously. Every response re-anchors the model on its
// Ratelimit-Remaining; a point is reserved for every request in flight
// before it is sent, so concurrent callers cannot overspend. While points
// are plentiful requests go at once; when they run low (a small margin of
// about 1% of the bucket is kept), requests are spread at the refill rate —
// token-bucket pacing rather than a stop at zero followed by a burst. The
// refill rate is measured from the responses (the points that came back
// between two observations, counting the requests answered in between);
// until enough has been seen it is derived from Ratelimit-Reset, and before
// that it is Twitch's documented Limit points per minute. Endpoints that
// cost more than one point make the measured rate err on the slow side.
//
// Until a bucket's first response arrives one request at a time is sent,
// to learn its size. A bucket whose responses carry no Ratelimit headers
// (a mock server) is not paced.
//
// Headers cannot stall a subject: a Ratelimit-Reset further ahead than a
// bucket can need (MaxBucketRefill) is ignored, and no request waits
// longer than MaxBucketRefill for a point.
//
// A Pacer is safe for concurrent use. Share one Pacer between Transports
// that act for the same subjects with the same client ID (TransportConfig.Pacer); each
// Transport otherwise has its own (TransportConfig.Pacer). The zero Pacer
// is ready to use.
type Pacer struct {
	mu      sync.Mutex
	buckets map[string]*bucket
	now     func() time.Time
}

// clock returns the time (p.now in tests, time.Now otherwise).
func (p *Pacer) clock() time.Time {
	if p.now != nil {
		return p.now()
	}
	return time.Now()
}

// snapshot returns the pacer's current view of the bucket named key (the
// Transport's bucket key: "<client id>/<subject>"), and false if no
// response with Ratelimit headers was seen for it yet. Remaining is the
// estimate of points available now, net of requests in flight.
func (p *Pacer) snapshot(key string) (ratelimit.Header, bool) {
	p.mu.Lock()
	b := p.buckets[key]
	p.mu.Unlock()
	if b == nil {
		return ratelimit.Header{}, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state != bucketMetered {
		return ratelimit.Header{}, false
	}
	now := p.clock()
	avail := b.available(now)
	return ratelimit.Header{Limit: int(b.limit), Remaining: max(0, int(math.Floor(avail))), Reset: b.reset}, true
}

// maxPacerBuckets is the number of buckets above which idle ones are
// forgotten (an extension backend sees many viewers, each with a bucket).
const maxPacerBuckets = 10_000

// pacerIdle is how long a bucket must be unused to be forgotten; by then it
// has refilled (Twitch's buckets refill within a minute).
const pacerIdle = 2 * time.Minute

func (p *Pacer) bucket(key string) *bucket {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.buckets[key]
	if b == nil {
		if len(p.buckets) >= maxPacerBuckets {
			p.pruneLocked()
		}
		b = &bucket{changed: make(chan struct{})}
		if p.buckets == nil {
			p.buckets = map[string]*bucket{}
		}
		p.buckets[key] = b
	}
	return b
}

// pruneLocked forgets the buckets nobody uses: none in flight or queued,
// and unused for pacerIdle. Callers hold p.mu.
func (p *Pacer) pruneLocked() {
	now := p.clock()
	for k, b := range p.buckets {
		b.mu.Lock()
		idle := b.inflight == 0 && len(b.queue) == 0 && now.Sub(b.at) > pacerIdle && !now.Before(b.blocked)
		b.mu.Unlock()
		if idle {
			delete(p.buckets, k)
		}
	}
}

const (
	bucketUnknown   = iota // no response yet: one request at a time
	bucketMetered          // responses carry Ratelimit headers: paced
	bucketUnmetered        // responses carry none: not paced
)

// Calibration of the measured refill rate: an estimate is trusted once the
// window spans calMinWindow and at least calMinPoints points — and four
// times the requests in flight, whose reordered answers blur the count —
// came back in it.
const (
	calMinWindow = 100 * time.Millisecond
	calMinPoints = 16
)

// bucket is the model of one rate-limit bucket.
type bucket struct {
	mu    sync.Mutex
	state int
	// changed is closed (and replaced) on every update, to wake callers
	// waiting for the first response of an unknown bucket.
	changed chan struct{}

	limit     float64
	tokens    float64   // modelled points in the bucket at time at
	at        time.Time // when tokens was observed
	reset     time.Time // the last Ratelimit-Reset
	blocked   time.Time // after a 429: nothing is sent before this
	inflight  int       // reservations not yet answered
	queue     []*waiter // callers waiting for a point, in arrival order
	seq       uint64    // reservations handed out
	completed uint64    // reservations returned

	rate      float64 // refill, points per second (0: unknown)
	resetRate float64 // refill implied by Ratelimit-Reset, 0 if never well conditioned
	measured  bool    // rate comes from a calibration window

	// Calibration window: the anchor observation and the number of
	// answered (point-spending) requests since it.
	calAt     time.Time
	calTokens float64
	calSpent  float64
	spent     float64
}

// margin is the number of points left untouched in the bucket, to absorb
// estimation errors: about 1% of its size, at least one point.
func (b *bucket) margin() float64 { return max(1, math.Round(b.limit/100)) }

// refill returns the refill rate in use: measured, else derived from
// Ratelimit-Reset, else the documented Limit points per minute — never
// below a tenth of the documented rate, however many 429s slowed it down
// (a bucket refills within MaxBucketRefill; the tenth leaves room for
// endpoints that cost more than one point).
func (b *bucket) refill() float64 {
	floor := b.limit / MaxBucketRefill.Seconds() / 10
	switch {
	case b.measured && b.rate > 0:
		return max(b.rate, floor)
	case b.resetRate > 0:
		return max(b.resetRate, floor)
	default:
		return b.limit / MaxBucketRefill.Seconds()
	}
}

// available estimates the points in the bucket now, net of the requests in
// flight.
func (b *bucket) available(now time.Time) float64 {
	return b.predict(now) - float64(b.inflight)
}

// reservation is a point taken from a bucket for one request.
type reservation struct {
	b    *bucket
	seq  uint64
	done uint64 // b.completed when the reservation was made
}

// errPaceDeadline is wrapped by the error returned when a pacing wait would
// outlast the context's deadline.
type paceDeadlineError struct{ wait time.Duration }

func (e *paceDeadlineError) Error() string {
	return fmt.Sprintf("twitchauth: Helix rate limit: the next point is %v away, past the request's deadline", e.wait.Round(time.Millisecond))
}

func (e *paceDeadlineError) Unwrap() error { return ErrRateLimited }

// waiter is a caller queued for a point of a bucket.
type waiter struct{ wake chan struct{} }

// reserve takes a point from the bucket named key, waiting (bounded by
// ctx) until one is available. Callers are served in arrival order: only
// the head of the queue sleeps on a timer, for its own point; the others
// wait to become the head. It returns the time spent waiting.
func (p *Pacer) reserve(ctx context.Context, key string) (reservation, time.Duration, error) {
	b := p.bucket(key)
	var me *waiter
	var waited time.Duration
	b.mu.Lock()
	for {
		now := p.clock()
		head := me == nil && len(b.queue) == 0 || me != nil && b.queue[0] == me
		var wait time.Duration
		var changed <-chan struct{}
		if head {
			var ok bool
			wait, changed, ok = b.try(now)
			if ok {
				if me != nil {
					b.remove(me)
				}
				b.inflight++
				b.seq++
				r := reservation{b, b.seq, b.completed}
				b.mu.Unlock()
				return r, waited, nil
			}
		}
		if me == nil {
			me = &waiter{wake: make(chan struct{}, 1)}
			b.queue = append(b.queue, me)
		}
		if d, ok := ctx.Deadline(); ok && b.state == bucketMetered {
			if est := b.estimate(now, me); now.Add(est).After(d) {
				b.remove(me)
				b.mu.Unlock()
				return reservation{}, waited, &paceDeadlineError{est}
			}
		}
		b.mu.Unlock()

		start := time.Now()
		err := waitOrChange(ctx, wait, changed, me.wake)
		waited += time.Since(start)

		b.mu.Lock()
		if err != nil {
			b.remove(me)
			b.mu.Unlock()
			return reservation{}, waited, err
		}
	}
}

// try reports whether the head of the queue may take a point now; if not,
// how long to sleep, or a channel to wait on. Callers hold b.mu.
func (b *bucket) try(now time.Time) (wait time.Duration, changed <-chan struct{}, ok bool) {
	switch {
	case now.Before(b.blocked):
		return min(b.blocked.Sub(now), MaxBucketRefill), nil, false
	case b.state == bucketUnmetered:
		return 0, nil, true
	case b.state == bucketUnknown:
		// One request at a time until the first answer tells the size.
		if b.inflight == 0 {
			return 0, nil, true
		}
		return 0, b.changed, false
	}
	avail := b.available(now)
	need := b.margin() + 1
	if avail >= need {
		return 0, nil, true
	}
	wait = time.Duration((need - avail) / b.refill() * float64(time.Second))
	return min(max(wait, time.Millisecond), MaxBucketRefill), nil, false
}

// estimate returns how long w should wait for its point: the points the
// waiters ahead of it and itself need, at the refill rate. Callers hold b.mu.
func (b *bucket) estimate(now time.Time, w *waiter) time.Duration {
	pos := 0
	for i, q := range b.queue {
		if q == w {
			pos = i
			break
		}
	}
	need := b.margin() + 1 + float64(pos) - b.available(now)
	est := time.Duration(max(0, need) / b.refill() * float64(time.Second))
	// Each point is back within MaxBucketRefill, whatever the model says.
	est = min(est, time.Duration(pos+1)*MaxBucketRefill)
	if now.Before(b.blocked) {
		est += min(b.blocked.Sub(now), MaxBucketRefill)
	}
	return est
}

// remove takes w out of the queue and, if the head changed, wakes the new
// head. Callers hold b.mu.
func (b *bucket) remove(w *waiter) {
	for i, q := range b.queue {
		if q == w {
			b.queue = append(b.queue[:i], b.queue[i+1:]...)
			if i == 0 && len(b.queue) > 0 {
				select {
				case b.queue[0].wake <- struct{}{}:
				default:
				}
			}
			return
		}
	}
}

// waitOrChange sleeps for d (when d > 0) or until changed is closed or
// wake receives (when they are not nil), whichever comes first, or until
// ctx ends.
func waitOrChange(ctx context.Context, d time.Duration, changed <-chan struct{}, wake <-chan struct{}) error {
	var timer <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer:
		return nil
	case <-changed:
		return nil
	case <-wake:
		return nil
	}
}

// done returns the reservation with what the response said: its status
// (0 when the request failed without a response) and header.
func (p *Pacer) done(r reservation, status int, h http.Header) {
	b := r.b
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := p.clock()
	// The request leaves the in-flight count; unless Helix said it took
	// nothing (a 429), its point now comes off the modelled bucket.
	b.tokens, b.at = b.predict(now), now
	b.inflight--
	// Requests answered while this one was in flight may have been
	// counted by Helix after it: its Remaining may not reflect them.
	overlap := float64(b.completed - r.done)
	b.completed++
	if status != http.StatusTooManyRequests {
		b.tokens--
	}
	rl, ok := ratelimit.Header{}, false
	if status != 0 {
		rl, ok = ratelimit.Parse(h)
	}
	switch {
	case ok:
		b.observe(rl, status, overlap, now)
	case status == http.StatusTooManyRequests:
		// A 429 without usable headers: hold the bucket for a second.
		b.blocked = now.Add(time.Second)
		b.tokens = 0
	case status != 0 && status < 500 && b.state == bucketUnknown:
		// An answer without rate-limit headers: this server does not
		// meter (a mock); do not pace it.
		b.state = bucketUnmetered
	}
	close(b.changed)
	b.changed = make(chan struct{})
}

// predict returns the modelled points in the bucket now (in-flight
// reservations not deducted).
func (b *bucket) predict(now time.Time) float64 {
	t := b.tokens
	if dt := now.Sub(b.at).Seconds(); dt > 0 && b.state == bucketMetered {
		t = min(b.limit, t+dt*b.refill())
	}
	return t
}

// observe re-anchors the model on a response's headers; b.tokens holds the
// prediction for now.
func (b *bucket) observe(rl ratelimit.Header, status int, overlap float64, now time.Time) {
	limit := float64(rl.Limit)
	rem := float64(rl.Remaining)
	fresh := b.state != bucketMetered || limit != b.limit
	if fresh {
		// A new bucket, or Twitch changed its size: start over.
		b.state = bucketMetered
		b.limit = limit
		b.rate, b.resetRate, b.measured = 0, 0, false
		b.calAt = time.Time{}
	}
	if status != http.StatusTooManyRequests {
		b.spent++
	}
	// Refill implied by the reset, when believable (see resetWait) and well
	// conditioned (a quarter of the bucket or more to refill, a second or
	// more away). An unbelievable reset is ignored: the rate stays the
	// measured or documented one.
	if until, ok := resetWait(rl.Reset, now); ok {
		b.reset = rl.Reset
		if limit-rem >= limit/4 && until >= time.Second {
			b.resetRate = (limit - rem) / until.Seconds()
		}
	}

	// The measured refill: points that came back since the anchor, plus
	// those spent by the requests answered since.
	switch {
	case rem >= limit:
		// Full: refill stalls, so a window spanning this tells nothing.
		b.calAt = time.Time{}
	case b.calAt.IsZero():
		b.calAt, b.calTokens, b.calSpent = now, rem, b.spent
	default:
		dt := now.Sub(b.calAt)
		back := rem - b.calTokens + (b.spent - b.calSpent)
		if dt >= calMinWindow && back >= max(calMinPoints, 4*float64(b.inflight)) {
			b.rate = min(back/dt.Seconds(), limit*10)
			b.measured = true
		}
	}

	// Re-anchor the tokens on what Helix reports. Responses overtake each
	// other: Remaining may predate requests answered since (at most those
	// answered while this one was in flight: overlap). So the model may
	// fall to Remaining, but rises only to Remaining − overlap — safe
	// whatever the order in which Helix counted them.
	switch {
	case fresh:
		b.tokens = rem
	case rem < b.tokens:
		b.tokens = rem
	case rem-overlap > b.tokens:
		b.tokens = rem - overlap
	}
	b.at = now
	if status == http.StatusTooManyRequests {
		// The model was wrong (or another client shares the bucket):
		// empty it, slow down, and measure again. The refused request
		// itself waits for Ratelimit-Reset (see Transport).
		b.tokens = 0
		if b.measured {
			b.rate *= 0.8
		}
		b.resetRate *= 0.8
		b.calAt = time.Time{}
		block := time.Duration((b.margin() + 1) / b.refill() * float64(time.Second))
		b.blocked = now.Add(min(block, MaxBucketRefill))
	}
}
