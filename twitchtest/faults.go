package twitchtest

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// FaultKind names one kind of injected failure.
type FaultKind string

// The kinds of failure RandomFaults injects, and the fault constructors
// produce.
const (
	// FaultErr500 answers 500 Internal Server Error with a JSON error body.
	FaultErr500 FaultKind = "err500"
	// FaultErr503 answers 503 Service Unavailable with a JSON error body.
	FaultErr503 FaultKind = "err503"
	// FaultLatency delays the request, which then proceeds normally.
	FaultLatency FaultKind = "latency"
	// FaultTimeout holds the request until the client gives up (its
	// connection closes or its context ends) or a bound passes, then answers
	// 504 Gateway Timeout if the client is still there.
	FaultTimeout FaultKind = "timeout"
	// FaultReset drops the connection without an answer (a TCP reset where
	// the platform allows it).
	FaultReset FaultKind = "reset"
	// FaultMalformed answers 200 with a truncated or otherwise invalid JSON
	// body.
	FaultMalformed FaultKind = "malformed"
	// FaultStorm429 starts a 429 storm: this request and the next
	// StormLength requests that reach the fault answer 429 Too Many
	// Requests, with Ratelimit headers saying the bucket is empty until the
	// next second.
	FaultStorm429 FaultKind = "storm429"
)

// FaultKinds lists every FaultKind, in the order RandomFaults draws them.
var FaultKinds = []FaultKind{FaultErr500, FaultErr503, FaultLatency, FaultTimeout, FaultReset, FaultMalformed, FaultStorm429}

// Defaults of FaultRates' durations and storm length.
const (
	DefaultFaultLatency = 50 * time.Millisecond
	DefaultFaultTimeout = 2 * time.Second
	DefaultStormLength  = 4
)

// FaultRates are the probabilities, between 0 and 1, that a request reaching
// a RandomFaults fault suffers each kind of failure. Their sum must not
// exceed 1; the rest of the requests pass untouched.
type FaultRates struct {
	Err500    float64
	Err503    float64
	Latency   float64
	Timeout   float64
	Reset     float64
	Malformed float64
	Storm429  float64

	// LatencyDur is the delay a Latency fault adds (default
	// DefaultFaultLatency). Each delay is drawn between half and all of it.
	LatencyDur time.Duration
	// TimeoutDur bounds how long a Timeout fault holds a request whose
	// client does not give up (default DefaultFaultTimeout).
	TimeoutDur time.Duration
	// StormLength is how many further requests a 429 storm refuses after
	// the one that started it (default DefaultStormLength).
	StormLength int
}

// Total returns the probability that a request is faulted (a storm's later
// 429s aside).
func (fr FaultRates) Total() float64 {
	return fr.Err500 + fr.Err503 + fr.Latency + fr.Timeout + fr.Reset + fr.Malformed + fr.Storm429
}

func (fr FaultRates) rate(k FaultKind) float64 {
	switch k {
	case FaultErr500:
		return fr.Err500
	case FaultErr503:
		return fr.Err503
	case FaultLatency:
		return fr.Latency
	case FaultTimeout:
		return fr.Timeout
	case FaultReset:
		return fr.Reset
	case FaultMalformed:
		return fr.Malformed
	case FaultStorm429:
		return fr.Storm429
	}
	return 0
}

func (fr *FaultRates) set(k FaultKind, v float64) {
	switch k {
	case FaultErr500:
		fr.Err500 = v
	case FaultErr503:
		fr.Err503 = v
	case FaultLatency:
		fr.Latency = v
	case FaultTimeout:
		fr.Timeout = v
	case FaultReset:
		fr.Reset = v
	case FaultMalformed:
		fr.Malformed = v
	case FaultStorm429:
		fr.Storm429 = v
	}
}

// Validate checks that every rate lies in [0, 1], that they add up to at
// most 1 and that the durations are not negative.
func (fr FaultRates) Validate() error {
	for _, k := range FaultKinds {
		if v := fr.rate(k); !(v >= 0 && v <= 1) {
			return fmt.Errorf("twitchtest: fault rate %s=%v: want a probability between 0 and 1", k, v)
		}
	}
	if t := fr.Total(); t > 1+1e-9 {
		return fmt.Errorf("twitchtest: fault rates add up to %.3f: their sum must not exceed 1", t)
	}
	if fr.LatencyDur < 0 || fr.TimeoutDur < 0 || fr.StormLength < 0 {
		return fmt.Errorf("twitchtest: fault durations and storm length must not be negative")
	}
	return nil
}

// ParseFaultRates parses a compact description of FaultRates, as a command
// line flag would take it: comma-separated key=value pairs, where the keys are
// the FaultKind names (err500, err503, latency, timeout, reset, malformed,
// storm429) with a probability, and latency_dur, timeout_dur (Go durations)
// and storm_len (an integer). Example:
// "err500=0.05,err503=0.05,reset=0.03,latency=0.05,latency_dur=200ms".
func ParseFaultRates(spec string) (FaultRates, error) {
	var fr FaultRates
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return FaultRates{}, fmt.Errorf("twitchtest: fault spec %q: want key=value", part)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "latency_dur", "timeout_dur":
			d, err := time.ParseDuration(v)
			if err != nil {
				return FaultRates{}, fmt.Errorf("twitchtest: fault spec %s: %q is not a duration such as 200ms", k, v)
			}
			if k == "latency_dur" {
				fr.LatencyDur = d
			} else {
				fr.TimeoutDur = d
			}
		case "storm_len":
			n, err := strconv.Atoi(v)
			if err != nil {
				return FaultRates{}, fmt.Errorf("twitchtest: fault spec storm_len: %q is not an integer", v)
			}
			fr.StormLength = n
		default:
			known := false
			for _, kind := range FaultKinds {
				if string(kind) == k {
					known = true
					p, err := strconv.ParseFloat(v, 64)
					if err != nil {
						return FaultRates{}, fmt.Errorf("twitchtest: fault spec %s: %q is not a probability", k, v)
					}
					fr.set(kind, p)
				}
			}
			if !known {
				return FaultRates{}, fmt.Errorf("twitchtest: fault spec: unknown key %q (known: err500, err503, latency, timeout, reset, malformed, storm429, latency_dur, timeout_dur, storm_len)", k)
			}
		}
	}
	return fr, fr.Validate()
}

// FaultCounts counts what a fault did.
type FaultCounts struct {
	// Seen is the number of requests that reached the fault.
	Seen int64
	// Injected counts the faults injected, by kind. A 429 storm counts every
	// request it refused under FaultStorm429.
	Injected map[FaultKind]int64
	// Storms is the number of 429 storms started.
	Storms int64
	// ClientGaveUp is the number of Timeout faults whose client went away
	// before the bound.
	ClientGaveUp int64
}

// Total returns the number of requests that suffered a fault.
func (c FaultCounts) Total() int64 {
	var n int64
	for _, v := range c.Injected {
		n += v
	}
	return n
}

// faultCounters are a fault's counters.
type faultCounters struct {
	seen, storms, gaveUp atomic.Int64
	kinds                [len(faultKindIndex)]atomic.Int64
}

// faultKindIndex indexes the counters by kind.
var faultKindIndex = [...]FaultKind{FaultErr500, FaultErr503, FaultLatency, FaultTimeout, FaultReset, FaultMalformed, FaultStorm429}

func (c *faultCounters) add(k FaultKind) {
	for i, kk := range faultKindIndex {
		if kk == k {
			c.kinds[i].Add(1)
			return
		}
	}
}

func (c *faultCounters) snapshot() FaultCounts {
	out := FaultCounts{Seen: c.seen.Load(), Storms: c.storms.Load(), ClientGaveUp: c.gaveUp.Load(), Injected: map[FaultKind]int64{}}
	for i, k := range faultKindIndex {
		if n := c.kinds[i].Load(); n > 0 {
			out.Injected[k] = n
		}
	}
	return out
}

func (c *faultCounters) reset() {
	c.seen.Store(0)
	c.storms.Store(0)
	c.gaveUp.Store(0)
	for i := range c.kinds {
		c.kinds[i].Store(0)
	}
}

// RandomFault injects failures at random, at the rates it was built with,
// from a seeded generator: the n-th request to reach it always gets the same
// decision, so a run that sends its requests in the same order repeats
// exactly. Install one on several endpoints with Server.SetFault (or
// SetFaults); it is safe for concurrent use. Counts reports what it did.
type RandomFault struct {
	rates   FaultRates
	mu      sync.Mutex
	rng     *rand.Rand
	storm   int // further requests the current 429 storm refuses
	enabled atomic.Bool
	c       faultCounters
}

// RandomFaults returns a RandomFault drawing from seed at the given rates.
// It panics if the rates are invalid (see FaultRates.Validate): they are a
// test's constants.
func RandomFaults(seed int64, rates FaultRates) *RandomFault {
	if err := rates.Validate(); err != nil {
		panic(err)
	}
	if rates.LatencyDur == 0 {
		rates.LatencyDur = DefaultFaultLatency
	}
	if rates.TimeoutDur == 0 {
		rates.TimeoutDur = DefaultFaultTimeout
	}
	if rates.StormLength == 0 {
		rates.StormLength = DefaultStormLength
	}
	f := &RandomFault{rates: rates, rng: rand.New(rand.NewPCG(uint64(seed), uint64(seed)^0x9e3779b97f4a7c15))}
	f.enabled.Store(true)
	return f
}

// Rates returns the fault's rates, defaults filled in.
func (f *RandomFault) Rates() FaultRates { return f.rates }

// SetEnabled turns the fault on or off; while off, requests pass untouched
// and are not counted (an ongoing storm ends).
func (f *RandomFault) SetEnabled(on bool) {
	f.mu.Lock()
	if !on {
		f.storm = 0
	}
	f.mu.Unlock()
	f.enabled.Store(on)
}

// Counts returns what the fault did so far.
func (f *RandomFault) Counts() FaultCounts { return f.c.snapshot() }

// ResetCounts sets the counters to zero.
func (f *RandomFault) ResetCounts() { f.c.reset() }

// decide draws the fault of the next request ("" for none) and, for
// latency, its duration.
func (f *RandomFault) decide() (kind FaultKind, d time.Duration, pick int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.storm > 0 {
		f.storm--
		return FaultStorm429, 0, 0
	}
	u := f.rng.Float64()
	d = f.rates.LatencyDur/2 + time.Duration(f.rng.Int64N(int64(f.rates.LatencyDur/2)+1))
	pick = f.rng.IntN(len(malformedBodies))
	for _, k := range FaultKinds {
		r := f.rates.rate(k)
		if u < r {
			if k == FaultStorm429 {
				f.storm = f.rates.StormLength
				f.c.storms.Add(1)
			}
			return k, d, pick
		}
		u -= r
	}
	return "", 0, 0
}

// Inject implements Fault.
func (f *RandomFault) Inject(w http.ResponseWriter, r *http.Request) bool {
	if !f.enabled.Load() {
		return false
	}
	f.c.seen.Add(1)
	kind, d, pick := f.decide()
	if kind == "" {
		return false
	}
	f.c.add(kind)
	switch kind {
	case FaultLatency:
		return injectLatency(w, r, d)
	case FaultTimeout:
		if hold(r, f.rates.TimeoutDur) {
			f.c.gaveUp.Add(1)
		}
		writeFaultError(w, r, http.StatusGatewayTimeout, "Gateway Timeout")
		return true
	case FaultMalformed:
		writeMalformed(w, uint64(pick))
		return true
	}
	return injectKind(kind, w, r, f.rates.TimeoutDur)
}

// injectKind injects one fault of kind (other than latency and storms'
// bookkeeping) and reports whether it answered the request.
func injectKind(kind FaultKind, w http.ResponseWriter, r *http.Request, timeout time.Duration) bool {
	switch kind {
	case FaultErr500:
		writeFaultError(w, r, http.StatusInternalServerError, "Internal Server Error")
	case FaultErr503:
		writeFaultError(w, r, http.StatusServiceUnavailable, "Service Unavailable")
	case FaultTimeout:
		hold(r, timeout)
		writeFaultError(w, r, http.StatusGatewayTimeout, "Gateway Timeout")
	case FaultReset:
		resetConn(w)
	case FaultMalformed:
		writeMalformed(w, malformedNext.Add(1))
	case FaultStorm429:
		writeStorm429(w, r)
	default:
		return false
	}
	return true
}

// injectLatency sleeps for d, or until the client goes away; the request then
// proceeds (or is dropped when the client is gone, since nobody would read
// the answer).
func injectLatency(_ http.ResponseWriter, r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return false
	case <-r.Context().Done():
		return true
	}
}

// hold waits until the client gives up or max passes, and reports whether
// the client gave up. The request body is drained first (up to 1 MiB): only
// then does net/http watch the connection and end r's context when the client
// goes away.
func hold(r *http.Request, max time.Duration) bool {
	io.Copy(io.Discard, io.LimitReader(r.Body, maxFormBytes))
	t := time.NewTimer(max)
	defer t.Stop()
	select {
	case <-t.C:
		return false
	case <-r.Context().Done():
		return true
	}
}

// isHelix reports whether r is a Helix request (whose errors have Helix's
// shape).
func isHelix(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/helix/") }

func writeFaultError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if isHelix(r) {
		writeHelixError(w, status, msg)
		return
	}
	writeError(w, status, msg)
}

// malformedBodies are the invalid answers FaultMalformed picks from.
var malformedBodies = []string{
	`{"access_token":"`,
	`{"data":[{"id":`,
	`<html><body>502 Bad Gateway</body></html>`,
	`{"status":200,"message":"ok"`,
	"",
	`[`,
	`{"expires_in":"soon","scopes":{}}`,
}

// malformedNext rotates the bodies of fixed FaultMalformed faults.
var malformedNext atomic.Uint64

// writeMalformed answers 200 with the pick-th malformed body (modulo their
// number).
func writeMalformed(w http.ResponseWriter, pick uint64) {
	body := malformedBodies[pick%uint64(len(malformedBodies))]
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(body))
}

func writeStorm429(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	if isHelix(r) {
		h.Set("Ratelimit-Limit", strconv.Itoa(DefaultHelixRatePoints))
		h.Set("Ratelimit-Remaining", "0")
		h.Set("Ratelimit-Reset", strconv.FormatInt(time.Now().Unix()+1, 10))
		writeHelixError(w, http.StatusTooManyRequests, msgHelixRateLimited)
		return
	}
	writeError(w, http.StatusTooManyRequests, "Too Many Requests")
}

// resetConn drops the connection under w without an answer: a TCP reset
// (SO_LINGER 0) when the connection is TCP, else a plain close. Without a
// Hijacker (HTTP/2) the handler is aborted instead.
func resetConn(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

// Fixed faults, for tests that want one failure on purpose.

// countedFault is a fixed fault that counts what it did.
type countedFault struct {
	kind FaultKind
	fire func(w http.ResponseWriter, r *http.Request) bool
	c    faultCounters
}

func (f *countedFault) Inject(w http.ResponseWriter, r *http.Request) bool {
	f.c.seen.Add(1)
	f.c.add(f.kind)
	return f.fire(w, r)
}

// Counts returns what the fault did.
func (f *countedFault) Counts() FaultCounts { return f.c.snapshot() }

// CountedFault is a Fault that reports what it did.
type CountedFault interface {
	Fault
	Counts() FaultCounts
}

// FailWith returns a fault that answers every request with kind's failure
// (FaultErr500, FaultErr503, FaultTimeout, FaultReset, FaultMalformed or
// FaultStorm429, a single 429). FaultLatency is Latency.
func FailWith(kind FaultKind) CountedFault {
	if kind == FaultLatency {
		return Latency(DefaultFaultLatency)
	}
	return &countedFault{kind: kind, fire: func(w http.ResponseWriter, r *http.Request) bool {
		return injectKind(kind, w, r, DefaultFaultTimeout)
	}}
}

// Latency returns a fault that delays every request by d; the request then
// proceeds (unless its client went away meanwhile).
func Latency(d time.Duration) CountedFault {
	return &countedFault{kind: FaultLatency, fire: func(w http.ResponseWriter, r *http.Request) bool {
		return injectLatency(w, r, d)
	}}
}

// Hang returns a fault that holds every request until its client gives up
// or max passes, then answers 504.
func Hang(max time.Duration) CountedFault {
	return &countedFault{kind: FaultTimeout, fire: func(w http.ResponseWriter, r *http.Request) bool {
		return injectKind(FaultTimeout, w, r, max)
	}}
}

// FirstN returns a fault that applies f to the first n requests that reach
// it and lets the later ones pass: "fail twice, then work".
func FirstN(n int, f Fault) Fault {
	var seen atomic.Int64
	return FaultFunc(func(w http.ResponseWriter, r *http.Request) bool {
		if seen.Add(1) > int64(n) {
			return false
		}
		return f.Inject(w, r)
	})
}

// SetFaults installs f on each of endpoints (see SetFault); a nil f removes
// the faults of those endpoints.
func (s *Server) SetFaults(f Fault, endpoints ...string) {
	for _, e := range endpoints {
		s.SetFault(e, f)
	}
}
