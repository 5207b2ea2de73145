package twitchauth_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/twitchtest"
)

// fakeClock is the sandbox's clock; the device tests advance it instead of
// sleeping.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// pollScript replaces the client's sleep between polls: each wait is
// recorded, then step(i, d) runs (i counts from 0) and may advance the
// sandbox clock, approve or deny.
type pollScript struct {
	mu    sync.Mutex
	waits []time.Duration
	step  func(i int, d time.Duration)
}

func (p *pollScript) sleep(ctx context.Context, d time.Duration) error {
	p.mu.Lock()
	i := len(p.waits)
	p.waits = append(p.waits, d)
	p.mu.Unlock()
	if p.step != nil {
		p.step(i, d)
	}
	return ctx.Err()
}

func (p *pollScript) recorded() []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.waits)
}

func TestDeviceFlowApproved(t *testing.T) {
	clk := newFakeClock()
	s := newSandbox(t, twitchtest.WithClock(clk.Now), twitchtest.WithDeviceSlowDown(true))
	for _, tc := range []struct {
		name string
		cfg  *twitchauth.Config
	}{{"public", public(s)}, {"confidential", confidential(s)}} {
		t.Run(tc.name, func(t *testing.T) {
			s.ResetCounters()
			da, err := tc.cfg.StartDevice(ctx(t), "chat:read", "chat:edit")
			if err != nil {
				t.Fatal(err)
			}
			leaks.Secret(da.DeviceCode)
			if da.UserCode == "" || da.VerificationURI == "" || da.Interval != twitchtest.DefaultDeviceInterval ||
				time.Until(da.ExpiresAt) < 29*time.Minute || !slices.Equal(da.Scopes, []string{"chat:read", "chat:edit"}) {
				t.Fatalf("device auth %+v", da)
			}
			script := &pollScript{step: func(i int, d time.Duration) {
				clk.Advance(d) // the client honours the interval
				if i == 2 {
					if err := s.ApproveDevice(da.UserCode, "moderator"); err != nil {
						t.Error(err)
					}
				}
			}}
			twitchauth.SetSleep(tc.cfg, script.sleep)
			tok := mustToken(t)(tc.cfg.PollDevice(ctx(t), da))
			if tok.Login != "moderator" || tok.RefreshToken == "" || !slices.Equal(tok.Scopes, []string{"chat:read", "chat:edit"}) {
				t.Fatalf("token %v", tok)
			}
			if got := s.Requests("token:device_code"); got != 3 {
				t.Fatalf("polls = %d, want 3 (two pending, one approved)", got)
			}
			if w := script.recorded(); !slices.Equal(w, []time.Duration{5 * time.Second, 5 * time.Second, 5 * time.Second}) {
				t.Fatalf("waits %v, want the 5 s interval each time", w)
			}
			// The device code is single use.
			_, err = tc.cfg.PollDevice(ctx(t), da)
			wantErr(t, err, twitchauth.ErrDeviceCodeExpired)
		})
	}
}

func TestDeviceFlowSlowDown(t *testing.T) {
	clk := newFakeClock()
	s := newSandbox(t, twitchtest.WithClock(clk.Now), twitchtest.WithDeviceSlowDown(true), twitchtest.WithDeviceInterval(time.Second))
	cfg := public(s)
	da, err := cfg.StartDevice(ctx(t), "user:read:chat")
	if err != nil {
		t.Fatal(err)
	}
	leaks.Secret(da.DeviceCode)
	if da.Interval != time.Second {
		t.Fatalf("interval %v, want 1s (WithDeviceInterval)", da.Interval)
	}
	script := &pollScript{step: func(i int, d time.Duration) {
		switch i {
		case 0, 1:
			// Polls 1 and 2 arrive at the same instant: the second is too fast.
		case 2:
			clk.Advance(d)
		case 3:
			clk.Advance(d)
			if err := s.ApproveDevice(da.UserCode, "viewer"); err != nil {
				t.Error(err)
			}
		}
	}}
	twitchauth.SetSleep(cfg, script.sleep)
	mustToken(t)(cfg.PollDevice(ctx(t), da))
	want := []time.Duration{time.Second, time.Second, 6 * time.Second, 6 * time.Second}
	if w := script.recorded(); !slices.Equal(w, want) {
		t.Fatalf("waits %v, want %v (slow_down adds 5 s)", w, want)
	}
	if da.Interval != 6*time.Second {
		t.Fatalf("da.Interval = %v, want 6s", da.Interval)
	}
}

func TestDeviceFlowDenied(t *testing.T) {
	s := newSandbox(t)
	cfg := public(s)
	da, err := cfg.StartDevice(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	leaks.Secret(da.DeviceCode)
	twitchauth.SetSleep(cfg, (&pollScript{step: func(i int, _ time.Duration) {
		if i == 1 {
			if err := s.DenyDevice(da.UserCode); err != nil {
				t.Error(err)
			}
		}
	}}).sleep)
	_, err = cfg.PollDevice(ctx(t), da)
	wantErr(t, err, twitchauth.ErrAccessDenied)
	wantAPIError(t, err, "token", 400)
	if got := s.Requests("token:device_code"); got != 2 {
		t.Fatalf("polls = %d, want 2", got)
	}
}

func TestDeviceFlowExpired(t *testing.T) {
	t.Run("sandbox expires the code", func(t *testing.T) {
		clk := newFakeClock()
		s := newSandbox(t, twitchtest.WithClock(clk.Now))
		cfg := public(s)
		da, err := cfg.StartDevice(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		leaks.Secret(da.DeviceCode)
		twitchauth.SetSleep(cfg, (&pollScript{step: func(i int, d time.Duration) {
			clk.Advance(d)
			if i == 1 {
				clk.Advance(twitchtest.DefaultDeviceCodeLifetime)
			}
		}}).sleep)
		_, err = cfg.PollDevice(ctx(t), da)
		wantErr(t, err, twitchauth.ErrDeviceCodeExpired)
		wantAPIError(t, err, "token", 400)
		if got := s.Requests("token:device_code"); got != 2 {
			t.Fatalf("polls = %d, want 2", got)
		}
	})
	t.Run("client stops after expires_in", func(t *testing.T) {
		s := newSandbox(t)
		cfg := public(s)
		da, err := cfg.StartDevice(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		leaks.Secret(da.DeviceCode)
		da.ExpiresAt = time.Now().Add(50 * time.Millisecond)
		// Real sleeps: the wait is cut to the expiry, then no poll is sent.
		start := time.Now()
		_, err = cfg.PollDevice(ctx(t), da)
		wantErr(t, err, twitchauth.ErrDeviceCodeExpired)
		if time.Since(start) > 4*time.Second {
			t.Fatal("PollDevice waited the full interval past the expiry")
		}
		if got := s.Requests("token:device_code"); got != 0 {
			t.Fatalf("polls = %d after expiry, want 0", got)
		}
	})
}

func TestDeviceFlowCancel(t *testing.T) {
	s := newSandbox(t)
	cfg := public(s)
	da, err := cfg.StartDevice(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	leaks.Secret(da.DeviceCode)
	c, cancel := context.WithCancel(ctx(t))
	done := make(chan error, 1)
	go func() {
		_, err := cfg.PollDevice(c, da)
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v, want context.Canceled", err)
		}
		leaks.Text(err.Error())
	case <-time.After(10 * time.Second):
		t.Fatal("PollDevice ignored the cancellation")
	}
}

func TestStartDeviceErrors(t *testing.T) {
	s := newSandbox(t)
	cfg := public(s)
	cfg.ClientID = "nosuchclient"
	_, err := cfg.StartDevice(ctx(t), "chat:read")
	wantErr(t, err, twitchauth.ErrInvalidClient)
	wantAPIError(t, err, "device", 400)
	_, err = public(s).PollDevice(ctx(t), &twitchauth.DeviceAuth{})
	wantErr(t, err)
}

func withClock(c *fakeClock) twitchtest.Option { return twitchtest.WithClock(c.Now) }
