package twitchauth_test

import (
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/provider"
	"github.com/twitchauth/twitchauth/twitchtest"
)

// Pacing benchmark: 2,000 calls by 16 goroutines against an 800-point
// bucket that refills in 2 s (Twitch's 800 per minute, sped up 30×), side
// by side:
//
//   - transport: through our Transport (pacing on);
//   - plain: an anchor client that sends at once and, on a 429, sleeps
//     until Ratelimit-Reset and tries again — what most Helix clients do.
//
// Reported per run: 429s (target 0 for ours), wall time, and wall/min —
// the wall time over the bucket's minimum for the load: the first 800
// calls drain the full bucket, the other 1,200 need 1,200 refilled points,
// 3 s at 400 points per second (target ≤ 1.05 for ours).
const (
	benchCalls   = 2000
	benchWorkers = 16
	benchPoints  = 800
	benchRefill  = 2 * time.Second
)

// benchMinimum is the least time benchCalls can take against the bucket.
func benchMinimum() time.Duration {
	return time.Duration(float64(benchCalls-benchPoints) / benchPoints * float64(benchRefill))
}

func BenchmarkHelixPacing(b *testing.B) {
	b.Run("transport", func(b *testing.B) {
		benchPacing(b, func(s *twitchtest.Server, cfg *twitchauth.Config, src *provider.TokenSource) func() (int, error) {
			c := &http.Client{Transport: newTransport(cfg, src)}
			url := cfg.APIBaseURL() + "/users?login=twitchdev"
			return func() (int, error) {
				resp, err := c.Get(url)
				if err != nil {
					return 0, err
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp.StatusCode, nil
			}
		})
	})
	b.Run("plain", func(b *testing.B) {
		benchPacing(b, func(s *twitchtest.Server, cfg *twitchauth.Config, src *provider.TokenSource) func() (int, error) {
			url := cfg.APIBaseURL() + "/users?login=twitchdev"
			c := &http.Client{}
			return func() (int, error) {
				for range 100 { // bounded: give up after 100 refusals
					tok, err := src.Token()
					if err != nil {
						return 0, err
					}
					req, _ := http.NewRequest("GET", url, nil)
					req.Header.Set("Client-Id", cfg.ClientID)
					req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
					resp, err := c.Do(req)
					if err != nil {
						return 0, err
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusTooManyRequests {
						return resp.StatusCode, nil
					}
					reset, _ := strconv.ParseInt(resp.Header.Get("Ratelimit-Reset"), 10, 64)
					time.Sleep(time.Until(time.Unix(reset, 0)))
				}
				return http.StatusTooManyRequests, nil
			}
		})
	})
}

// benchPacing runs benchCalls calls made by newCall per iteration, each
// against a fresh sandbox bucket, and reports 429s and wall/min.
func benchPacing(b *testing.B, newCall func(*twitchtest.Server, *twitchauth.Config, *provider.TokenSource) func() (int, error)) {
	var total429 int
	var wall time.Duration
	for b.Loop() {
		b.StopTimer()
		s := twitchtest.NewServer(b, twitchtest.WithHelixRateLimit(benchPoints, benchRefill))
		app := s.DefaultClient()
		cfg := &twitchauth.Config{ClientID: app.ID, ClientSecret: app.Secret,
			Endpoints: twitchauth.Endpoints{IDURL: s.IDURL(), APIURL: s.APIURL()}}
		p, err := provider.New(b.Context(), provider.Config{OAuth: cfg})
		if err != nil {
			b.Fatal(err)
		}
		src := p.TokenSource(provider.App())
		if _, err := src.Token(); err != nil {
			b.Fatal(err)
		}
		call := newCall(s, cfg, src)
		s.ResetCounters()
		b.StartTimer()

		start := time.Now()
		var next atomic.Int64
		var failed atomic.Int64
		var wg sync.WaitGroup
		for range benchWorkers {
			wg.Go(func() {
				for next.Add(1) <= benchCalls {
					if code, err := call(); err != nil || code != 200 {
						failed.Add(1)
					}
				}
			})
		}
		wg.Wait()
		wall += time.Since(start)

		b.StopTimer()
		if f := failed.Load(); f > 0 {
			b.Fatalf("%d calls failed", f)
		}
		if n := s.Requests("helix:GET /users") - s.Requests("helix:429"); n != benchCalls {
			b.Fatalf("%d successful requests, want %d", n, benchCalls)
		}
		total429 += s.Requests("helix:429")
		s.Close()
		b.StartTimer()
	}
	n := float64(b.N)
	b.ReportMetric(float64(total429)/n, "429s/op")
	b.ReportMetric(wall.Seconds()/n, "wall-s/op")
	b.ReportMetric(wall.Seconds()/n/benchMinimum().Seconds(), "wall/min")
}
