package provider

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	mrand "math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/twitchauth/twitchauth/store"
)

// DefaultValidationLease is how long a process's claim on a batch of grants
// to validate lasts (Config.ValidationLease): a process that dies mid-round
// delays the grants it claimed by at most this much past the interval.
const DefaultValidationLease = 2 * time.Minute

// claimBatch is how many grants one claim takes, per unit of validation
// concurrency: enough to keep the workers busy, few enough that a batch ends
// well within the lease.
const claimBatch = 8

// runClaimedValidation is RunValidation with a store that schedules
// validation for the fleet (store.ValidationClaimer). Every poll period
// (interval/100, between 10 ms and 30 s) the Provider claims the grants of its
// application that nobody validated within the interval, in batches, validates
// them and marks them validated, until none is due; report receives the
// results of each such sweep that validated something. The poll period is
// also at most a quarter of the lease.
//
// The validation time recorded for a batch is the time it was claimed, moved
// earlier by two poll periods and by a random jitter of up to 5% of the
// interval (the fleet thus validates a token about 1.04 times an interval:
// the price of never waiting longer), so that the fleet's load spreads over the interval instead of
// following in step, and so that no token waits longer than the interval
// between two validations, nor longer than the interval plus the lease when
// the process that claimed it died: it fell due at least two polls before
// the interval ended, was claimed within a poll, and its lapsed claim is
// claimed again within a poll. Grants the fleet fell behind on (never validated, or
// overdue by more than 10% of the interval, as after the whole fleet was
// down) are spread wider, over half the interval: after a cold start of the
// fleet the load flattens within a round instead of repeating the burst.
//
// A grant whose validation failed for a transient reason (network, a
// renewal that could not finish) is not marked: its claim lapses after the
// lease and another sweep, of any process, retries it.
//
// Start-up (docs/protocol.md#validate, "validate when it starts and every
// hour after"): the fleet is the app. A process that starts validates at once
// every token the fleet has not validated within the interval, and leaves the
// others until they are due: a token validated by another replica ten minutes
// ago is not validated again because one more replica started.
func (p *Provider) runClaimedValidation(ctx context.Context, c store.ValidationClaimer, interval time.Duration, report func([]ValidationResult)) error {
	lease := p.claimLease
	if lease <= 0 {
		lease = DefaultValidationLease
	}
	poll := min(max(min(interval/100, lease/4), 10*time.Millisecond), 30*time.Second)
	owner := claimOwner()
	if report == nil {
		report = func([]ValidationResult) {}
	}
	for {
		p.sweepClaims(ctx, c, owner, interval, poll, lease, report)
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// claimOwner names this process's claims: host, process ID and a random
// part (several Providers may share a process). It is stored in the
// database for operators to read; it holds no secret.
func claimOwner() string {
	host, _ := os.Hostname()
	var b [6]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// sweepClaims claims and validates due grants in batches until none is due
// (or ctx ends) and reports the results as one round, or as several when the
// sweep lasted so long that a grant came due again (short intervals).
func (p *Provider) sweepClaims(ctx context.Context, c store.ValidationClaimer, owner string, interval, poll, lease time.Duration, report func([]ValidationResult)) {
	prefix := store.GrantKey(p.clientID, "")
	var all []ValidationResult
	// seen holds a hash of each key reported in all: a key claimed twice
	// in one sweep ends the report. Hashes, not the keys: at 100,000
	// grants the keys were 7 MB held until the sweep ended; a collision
	// only splits a report in two.
	seed := maphash.MakeSeed()
	seen := map[uint64]struct{}{}
	defer func() {
		if len(all) > 0 {
			report(all)
		}
	}()
	for ctx.Err() == nil {
		start := p.now()
		due, err := c.ClaimDue(ctx, store.ValidationClaim{
			Owner: owner, Prefix: prefix, Now: start, Before: start.Add(-interval), Lease: lease,
			Limit: claimBatch * p.validateConc,
		})
		if err != nil {
			if ctx.Err() == nil {
				p.log.Warn("could not claim grants to validate; trying again", "err", err)
			}
			return
		}
		if len(due) == 0 {
			return
		}
		for _, d := range due {
			if _, dup := seen[maphash.String(seed, d.Key)]; dup && len(all) > 0 {
				report(all)
				all, seen = nil, map[uint64]struct{}{}
			}
		}
		for _, d := range due {
			seen[maphash.String(seed, d.Key)] = struct{}{}
		}
		res, onTime, behind := p.validateClaimed(ctx, due, start, interval, lease)
		if all == nil {
			// Sized once for every grant held: grown by doubling, the list
			// of a 100,000-grant round left 5 MB of copies behind.
			all = make([]ValidationResult, 0, p.UserCount()+1)
		}
		all = append(all, res...)
		// Marking uses ctx's parent lifetime: a batch validated just before
		// shutdown is still recorded when possible.
		mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		for _, m := range []struct {
			keys   []string
			spread time.Duration
		}{{onTime, interval / 20}, {behind, interval / 2}} {
			if len(m.keys) == 0 {
				continue
			}
			at := start.Add(-2*poll - time.Duration(mrand.Int64N(int64(m.spread)+1)))
			if err := c.MarkValidated(mctx, owner, m.keys, at); err != nil {
				p.log.Warn("could not record the validation of claimed grants; they will be validated again after the lease",
					"grants", len(m.keys), "err", err)
			}
		}
		cancel()
	}
}

// validateClaimed validates the claimed keys within three quarters of the
// lease and returns the results and the keys to mark validated: onTime, and
// behind (never validated or overdue by more than a tenth of the interval,
// see runClaimedValidation). A key that is no grant of this Provider's (any
// more), or no longer active, is marked without a call to Twitch.
func (p *Provider) validateClaimed(ctx context.Context, due []store.DueGrant, start time.Time, interval, lease time.Duration) (res []ValidationResult, onTime, behind []string) {
	var subs []*subject
	var subKeys []string
	var late []bool
	for _, d := range due {
		key := d.Key
		subj, ok := p.subjectOf(key)
		if !ok {
			onTime = append(onTime, key)
			continue
		}
		s, err := p.subjectFor(ctx, subj)
		if errors.Is(err, ErrUnknownSubject) {
			onTime = append(onTime, key)
			continue
		}
		if err != nil {
			res = append(res, ValidationResult{Subject: subjectOfKey(subj), Err: err})
			continue
		}
		e := s.cur.Load()
		if e == nil || !e.g.active() {
			onTime = append(onTime, key)
			continue
		}
		subs = append(subs, s)
		subKeys = append(subKeys, key)
		lv := d.LastValidated // the fleet's, not this process's copy of the record
		late = append(late, lv.IsZero() || lv.Before(start.Add(-interval-interval/10)))
	}
	bctx, cancel := context.WithTimeout(ctx, lease*3/4)
	defer cancel()
	for i, r := range p.validateSubjects(bctx, subs) {
		res = append(res, r)
		if r.Err != nil && !r.Revoked && !errors.Is(r.Err, ErrGrantDead) {
			continue // transient: retried once the claim lapses
		}
		if late[i] {
			behind = append(behind, subKeys[i])
		} else {
			onTime = append(onTime, subKeys[i])
		}
	}
	return res, onTime, behind
}

// validateSubjects validates subs with bounded concurrency
// (Config.ValidationConcurrency), as ValidateAll does; results are in the
// order of subs. Their writes are batched (batch.go) and durable
// when it returns.
func (p *Provider) validateSubjects(ctx context.Context, subs []*subject) []ValidationResult {
	results := make([]ValidationResult, len(subs))
	sem := make(chan struct{}, p.validateConc)
	w := p.newRoundWriter()
	var wg sync.WaitGroup
	for i, s := range subs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			results[i] = ValidationResult{Subject: subjectOfKey(s.key), Err: ctx.Err()}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			results[i] = p.validateInRound(ctx, s, w)
		}()
	}
	wg.Wait()
	w.flush(ctx)
	return results
}
