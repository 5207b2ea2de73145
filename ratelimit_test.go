package twitchauth_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/provider"
	"github.com/twitchauth/twitchauth/twitchtest"
)

// A steady load above the refill rate never sees a 429: the pacer spreads
// the calls once the bucket runs low, and the whole load completes.
func TestPacerSteadyLoadNo429(t *testing.T) {
	s := newSandbox(t, twitchtest.WithHelixRateLimit(40, time.Second))
	cfg := confidential(s)
	p := newProvider(t, cfg)
	tr := newTransport(cfg, p.TokenSource(provider.App()))
	c := &http.Client{Transport: tr}
	var wg sync.WaitGroup
	var bad atomic.Int32
	var next atomic.Int32
	for range 8 {
		wg.Go(func() {
			for next.Add(1) <= 120 { // 3× the bucket: 80 calls must wait for refill
				if code, _ := trGet(t, c, cfg.APIBaseURL()+"/users?login=twitchdev", nil); code != 200 {
					bad.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := s.Requests("helix:429"); n != 0 || bad.Load() != 0 {
		t.Fatalf("%d 429s and %d failed calls under a paced steady load; want none", n, bad.Load())
	}
	st := tr.Stats()
	if st.Requests != 120 || st.Waits == 0 || st.WaitTime <= 0 || st.RateLimited != 0 {
		t.Fatalf("stats %+v: want 120 requests, some paced waits, no 429", st)
	}
	rl, ok := pacerOf(tr).Bucket(cfg.ClientID + "/app")
	if !ok || rl.Limit != 40 {
		t.Fatalf("app bucket = %+v %v", rl, ok)
	}
}

// Each user has its own bucket: one user's empty bucket does not hold
// back another user's calls.
func TestPacerBucketsPerSubject(t *testing.T) {
	s := newSandbox(t, twitchtest.WithHelixRateLimit(5, time.Minute))
	cfg := confidential(s)
	p := newProvider(t, cfg)
	users := s.Users()
	a := provUser(t, s, p, cfg.ClientID, users[0].Login, nil)
	b := provUser(t, s, p, cfg.ClientID, users[1].Login, nil)
	pacer := &twitchauth.Pacer{}
	ca := &http.Client{Transport: newTransport(cfg, p.TokenSource(provider.User(a.UserID)), withPacer(pacer))}
	cb := &http.Client{Transport: newTransport(cfg, p.TokenSource(provider.User(b.UserID)), withPacer(pacer))}
	for range 4 { // drain user a's bucket down to its margin
		if code, _ := trGet(t, ca, cfg.APIBaseURL()+"/users", nil); code != 200 {
			t.Fatal(code)
		}
	}
	// a's next call would wait ~12 s for a point: past a short deadline.
	short, cancel := context.WithTimeout(ctx(t), 500*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(short, "GET", cfg.APIBaseURL()+"/users", nil)
	if _, err := ca.Do(req); !errors.Is(err, twitchauth.ErrRateLimited) {
		t.Fatalf("user a past its bucket: %v, want ErrRateLimited at once", err)
	}
	// b is unaffected, with the same Pacer.
	if code, _ := trGet(t, cb, cfg.APIBaseURL()+"/users", nil); code != 200 {
		t.Fatalf("user b: %d", code)
	}
	ra, _ := pacer.Bucket(cfg.ClientID + "/user:" + a.UserID)
	rb, _ := pacer.Bucket(cfg.ClientID + "/user:" + b.UserID)
	if ra.Remaining >= rb.Remaining || rb.Remaining != 4 {
		t.Fatalf("buckets a=%+v b=%+v: want separate counts", ra, rb)
	}
	if s.Requests("helix:429") != 0 {
		t.Fatal("a 429 was provoked")
	}
}

// A server that sends no Ratelimit headers (a mock) is not paced: calls
// run concurrently once the first answer shows no headers.
func TestPacerUnmeteredServer(t *testing.T) {
	var inflight, peak atomic.Int32
	release := make(chan struct{})
	cfg := fakeHelix(t, func(w http.ResponseWriter, r *http.Request) {
		n := inflight.Add(1)
		defer inflight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		if r.URL.Query().Get("wait") != "" {
			select {
			case <-release:
			case <-time.After(5 * time.Second):
			}
		}
		w.Write([]byte(`{"data":[]}`))
	})
	tr := newTransport(cfg, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "t"}), withBucketKey("x"))
	c := &http.Client{Transport: tr}
	if code, _ := trGet(t, c, cfg.APIBaseURL()+"/x", nil); code != 200 {
		t.Fatal(code)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { trGet(t, c, cfg.APIBaseURL()+"/x?wait=1", nil) })
	}
	deadline := time.Now().Add(5 * time.Second)
	for peak.Load() < 4 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if peak.Load() != 4 {
		t.Fatalf("peak concurrency %d against an unmetered server, want 4", peak.Load())
	}
	if _, ok := pacerOf(tr).Bucket("fakeclientid/x"); ok {
		t.Fatal("an unmetered bucket reported as metered")
	}
}

// Before the first answer, one request at a time: a burst from a cold
// start cannot overrun a bucket whose size is unknown.
func TestPacerProbesColdBucket(t *testing.T) {
	// The concurrency is read in the handler, just before the first answer
	// is written: requests sent after that answer arrived do not count.
	var inflight, atFirst atomic.Int32
	var first sync.Once
	cfg := fakeHelix(t, func(w http.ResponseWriter, r *http.Request) {
		inflight.Add(1)
		defer inflight.Add(-1)
		time.Sleep(50 * time.Millisecond) // time for unpaced requests to pile up
		first.Do(func() { atFirst.Store(inflight.Load()) })
		writeHelixJSON(w, 200, map[string]any{"data": []any{}})
	})
	tr := newTransport(cfg, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "t"}), withBucketKey("bot"))
	c := &http.Client{Transport: tr}
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() { trGet(t, c, cfg.APIBaseURL()+"/x", nil) })
	}
	wg.Wait()
	if n := atFirst.Load(); n != 1 {
		t.Fatalf("%d requests were in flight when the first answer was written, want 1", n)
	}
	if _, ok := pacerOf(tr).Bucket("fakeclientid/bot"); !ok {
		t.Fatal("bucket named by TransportConfig.BucketKey not found")
	}
}

// hostileHelix answers its first request with a 429 whose headers say the
// bucket is empty until reset (a Unix time), and every later one normally.
func hostileHelix(t *testing.T, reset int64) (*twitchauth.Config, *atomic.Int32) {
	var n atomic.Int32
	cfg := fakeHelix(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.Header().Set("Ratelimit-Limit", "800")
			w.Header().Set("Ratelimit-Remaining", "0")
			w.Header().Set("Ratelimit-Reset", strconv.FormatInt(reset, 10))
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte(`{"error":"Too Many Requests","status":429,"message":"Request limit exceeded"}`))
			return
		}
		writeHelixJSON(w, 200, map[string]any{"data": []any{}})
	})
	return cfg, &n
}

// doWithin sends GET u through c with ctx and fails the test if the call is
// still running after limit (then cancels it, so nothing leaks).
func doWithin(t *testing.T, c *http.Client, ctx context.Context, u string, limit time.Duration) (int, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		resp, err := c.Do(req)
		if err != nil {
			done <- result{0, err}
			return
		}
		resp.Body.Close()
		done <- result{resp.StatusCode, nil}
	}()
	select {
	case r := <-done:
		return r.code, r.err
	case <-time.After(limit):
		cancel()
		<-done
		t.Fatalf("GET %s still waiting after %v", u, limit)
		return 0, nil
	}
}

// One 429 whose Ratelimit-Reset is the year 9999 must not poison the
// subject: the reset is not believed, the request is retried after a short
// wait, and later requests reach upstream — with or without a deadline.
func TestHostileResetDoesNotPoisonSubject(t *testing.T) {
	cfg, n := hostileHelix(t, 253402300799)
	tr := newTransport(cfg, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "t"}), withBucketKey("bot"))
	c := &http.Client{Transport: tr}
	dctx, cancel := context.WithTimeout(ctx(t), 5*time.Second)
	defer cancel()
	if code, err := doWithin(t, c, dctx, cfg.APIBaseURL()+"/x", 6*time.Second); err != nil || code != 200 {
		t.Fatalf("first call (answered 429 with a reset in 9999): %d %v; want 200 after a retry", code, err)
	}
	for i := range 3 {
		short, cancel := context.WithTimeout(ctx(t), 2*time.Second)
		code, err := doWithin(t, c, short, cfg.APIBaseURL()+"/x", 3*time.Second)
		cancel()
		if err != nil || code != 200 {
			t.Fatalf("call %d with a 2 s deadline after the hostile 429: %d %v; want 200", i, code, err)
		}
	}
	// No deadline at all: the call must still end soon.
	if code, err := doWithin(t, c, t.Context(), cfg.APIBaseURL()+"/x", 3*time.Second); err != nil || code != 200 {
		t.Fatalf("call without a deadline: %d %v", code, err)
	}
	if rl, ok := pacerOf(tr).Bucket("fakeclientid/bot"); !ok || rl.Reset.Year() > 2100 {
		t.Fatalf("bucket %+v %v: the absurd reset was kept", rl, ok)
	}
	if n.Load() != 6 {
		t.Fatalf("upstream saw %d requests, want 6 (the 429, its retry, 4 calls)", n.Load())
	}
}

// A reset an hour ahead (a clock far off, or a hostile header) makes a
// caller without a deadline wait at most a bucket's refill, not an hour.
func TestResetAnHourAheadIsCapped(t *testing.T) {
	for _, paced := range []bool{true, false} {
		t.Run(fmt.Sprintf("paced=%v", paced), func(t *testing.T) {
			cfg, n := hostileHelix(t, time.Now().Add(time.Hour).Unix())
			var opts []trOption
			if !paced {
				opts = append(opts, withoutPacing())
			}
			tr := newTransport(cfg, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "t"}), opts...)
			c := &http.Client{Transport: tr}
			for i := range 2 {
				// t.Context has no deadline: nothing but the cap bounds the wait.
				if code, err := doWithin(t, c, t.Context(), cfg.APIBaseURL()+"/x", 4*time.Second); err != nil || code != 200 {
					t.Fatalf("call %d: %d %v", i, code, err)
				}
			}
			if n.Load() != 3 {
				t.Fatalf("upstream saw %d requests, want 3", n.Load())
			}
		})
	}
}

// Cancelling a caller queued for a point removes it from the queue: the
// callers behind it are still served.
func TestPacerCancelledWaiterLeavesQueue(t *testing.T) {
	var served atomic.Int32
	reset := strconv.FormatInt(time.Now().Add(time.Minute).Unix(), 10)
	cfg := fakeHelix(t, func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		w.Header().Set("Ratelimit-Limit", "100")
		w.Header().Set("Ratelimit-Remaining", "0") // empty, refilling over a minute: a point every 0.6 s
		w.Header().Set("Ratelimit-Reset", reset)
		w.Write([]byte(`{"data":[]}`))
	})
	tr := newTransport(cfg, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "t"}))
	c := &http.Client{Transport: tr}
	trGet(t, c, cfg.APIBaseURL()+"/x", nil)
	cctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(cctx, "GET", cfg.APIBaseURL()+"/x", nil)
		_, err := c.Do(req)
		errc <- err
	}()
	time.Sleep(10 * time.Millisecond)
	done := make(chan int, 1)
	go func() { code, _ := trGet(t, c, cfg.APIBaseURL()+"/x", nil); done <- code }()
	time.Sleep(10 * time.Millisecond)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter: %v", err)
	}
	select {
	case code := <-done:
		if code != 200 {
			t.Fatal(code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the caller behind a cancelled waiter was never served")
	}
}
