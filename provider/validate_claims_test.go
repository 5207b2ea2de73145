package provider_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/provider"
	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/twitchtest"
)

// validateCounter counts the /validate calls of several Providers, per
// token and per Provider, through their HTTP clients.
type validateCounter struct {
	mu      sync.Mutex
	byToken map[string]int
	first   map[string]time.Time
	byProc  map[int]int
}

func newValidateCounter() *validateCounter {
	return &validateCounter{byToken: map[string]int{}, first: map[string]time.Time{}, byProc: map[int]int{}}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func (c *validateCounter) client(proc int) *http.Client {
	base := http.DefaultTransport
	return &http.Client{Timeout: 10 * time.Second, Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if strings.HasSuffix(r.URL.Path, "/validate") {
			tok := r.Header.Get("Authorization")
			tok = tok[strings.IndexByte(tok, ' ')+1:]
			c.mu.Lock()
			c.byToken[tok]++
			c.byProc[proc]++
			if _, ok := c.first[tok]; !ok {
				c.first[tok] = time.Now()
			}
			c.mu.Unlock()
		}
		return base.RoundTrip(r)
	})}
}

// counts returns the minimum and maximum calls per token of tokens.
func (c *validateCounter) counts(tokens []string) (lo, hi int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	lo = -1
	for _, t := range tokens {
		n := c.byToken[t]
		if lo < 0 || n < lo {
			lo = n
		}
		hi = max(hi, n)
	}
	return lo, hi
}

// seedUnvalidated stores n user grants of cfg's application in st, never
// validated (so due at once), and returns their access tokens.
func seedUnvalidated(t *testing.T, s *twitchtest.Server, cfg *twitchauth.Config, st store.Store, n int) []string {
	t.Helper()
	scratch := store.NewMemory()
	p := newProvider(t, cfg, withStore(scratch))
	var tokens []string
	for i := range n {
		u, err := s.AddUser(twitchtest.User{Login: fmt.Sprintf("claimuser%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		tok := provUser(t, s, p, cfg.ClientID, u.Login, []string{"chat:read"})
		tokens = append(tokens, tok.AccessToken)
	}
	recs, err := scratch.List(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		r.LastValidated = time.Time{}
		if _, err := st.Save(ctx(t), r, 0); err != nil {
			t.Fatal(err)
		}
	}
	return tokens
}

// waitCounts waits until every token was validated at least want times.
func waitCounts(t *testing.T, c *validateCounter, tokens []string, want int, within time.Duration) (lo, hi int) {
	t.Helper()
	for deadline := time.Now().Add(within); ; time.Sleep(5 * time.Millisecond) {
		lo, hi = c.counts(tokens)
		if lo >= want {
			return lo, hi
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: the least validated token has %d validations, want %d", within, lo, want)
		}
	}
}

// Three Providers on one store validate each token once per interval in
// total, not three times, and share the work.
func TestValidationClaimsShareOneRoundPerInterval(t *testing.T) {
	const procs, users, interval = 3, 48, time.Second
	s := newSandbox(t)
	st := store.NewMemory()
	tokens := seedUnvalidated(t, s, confidential(s), st, users)
	c := newValidateCounter()
	rctx, cancel := context.WithCancel(ctx(t))
	var wg sync.WaitGroup
	for i := range procs {
		cfg := confidential(s)
		cfg.HTTPClient = c.client(i)
		p := newProvider(t, cfg, withStore(st), withValidationConcurrency(1),
			withValidationLease(500*time.Millisecond))
		wg.Add(1)
		go func() { defer wg.Done(); p.RunValidation(rctx, interval, nil) }()
	}
	defer func() { cancel(); wg.Wait() }()
	for round := 1; round <= 2; round++ {
		lo, hi := waitCounts(t, c, tokens, round, 10*time.Second)
		if hi != round {
			t.Fatalf("round %d: a token was validated %d times (least %d), want exactly %d: the Providers did not share the round",
				round, hi, lo, round)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range procs {
		if c.byProc[i] == 0 {
			t.Errorf("Provider %d validated nothing in two rounds (%v): the work was not shared", i, c.byProc)
		}
	}
	t.Logf("%d tokens, %d Providers, 2 rounds: validations per Provider %v", users, procs, c.byProc)
}

// A process that claimed grants and died delays them by its lease only:
// nobody validates them while the claim holds, and they are validated once
// it lapses.
func TestValidationClaimOfDeadProcessLapses(t *testing.T) {
	const users, lease = 8, 600 * time.Millisecond
	s := newSandbox(t)
	st := store.NewMemory()
	cfg := confidential(s)
	tokens := seedUnvalidated(t, s, cfg, st, users)
	claimed := time.Now()
	due, err := st.ClaimDue(ctx(t), store.ValidationClaim{
		Owner: "dead-replica", Prefix: store.GrantKey(cfg.ClientID, ""), Now: claimed, Before: claimed.Add(-time.Hour),
		Lease: lease, Limit: 100,
	})
	if err != nil || len(due) != users {
		t.Fatalf("the dead replica's claim: %d keys, %v", len(due), err)
	}
	c := newValidateCounter()
	cfg.HTTPClient = c.client(0)
	p := newProvider(t, cfg, withStore(st), withValidationLease(lease))
	rctx, cancel := context.WithCancel(ctx(t))
	done := make(chan error, 1)
	go func() { done <- p.RunValidation(rctx, time.Hour, nil) }()
	defer func() { cancel(); <-done }()
	waitCounts(t, c, tokens, 1, 10*time.Second)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, tok := range tokens {
		if at := c.first[tok]; at.Before(claimed.Add(lease)) {
			t.Fatalf("a token was validated %v after the dead replica's claim, before its %v lease lapsed", at.Sub(claimed), lease)
		}
	}
}

// A validation that fails for a transient reason is not recorded: the
// grant is validated again once its claim lapses, not an interval later.
func TestValidationClaimRetriesTransientFailure(t *testing.T) {
	const lease = 300 * time.Millisecond
	s := newSandbox(t)
	st := store.NewMemory()
	cfg := confidential(s)
	tokens := seedUnvalidated(t, s, cfg, st, 1)
	s.SetFault("validate", twitchtest.FirstN(1, twitchtest.FailWith(twitchtest.FaultErr500)))
	c := newValidateCounter()
	cfg.HTTPClient = c.client(0)
	p := newProvider(t, cfg, withStore(st), withValidationLease(lease))
	rctx, cancel := context.WithCancel(ctx(t))
	rounds := make(chan []provider.ValidationResult, 8)
	done := make(chan error, 1)
	go func() {
		done <- p.RunValidation(rctx, time.Hour, func(r []provider.ValidationResult) { rounds <- r })
	}()
	defer func() { cancel(); <-done }()
	var got []provider.ValidationResult
	for len(got) < 2 {
		select {
		case r := <-rounds:
			got = append(got, r...)
		case <-time.After(10 * time.Second):
			t.Fatalf("after a failed validation, no retry came within 10 s (lease %v): %+v", lease, got)
		}
	}
	if got[0].Err == nil || got[1].Err != nil || !got[1].Valid {
		t.Fatalf("results %+v, want a failure then a valid retry", got)
	}
	if lo, _ := c.counts(tokens); lo != 2 {
		t.Fatalf("%d validate calls, want 2", lo)
	}
	if errors.Is(got[0].Err, context.Canceled) {
		t.Fatalf("the failure was the test's own cancellation: %v", got[0].Err)
	}
}
