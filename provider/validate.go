package provider

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"github.com/twitchauth/twitchauth"

	"github.com/twitchauth/twitchauth/store"
)

// DefaultValidationInterval is how often RunValidation validates every held
// token: Twitch requires apps to call /validate at start-up and hourly (docs/protocol.md#validate).
const DefaultValidationInterval = time.Hour

// ValidationResult is the outcome of validating one subject's token.
type ValidationResult struct {
	// Subject is the App or a User (an Intent validated is resolved).
	Subject Subject
	// Valid is true when Twitch accepted the token (possibly after renewing
	// it).
	Valid bool
	// Renewed is true when the token was refused and a renewal replaced it.
	Renewed bool
	// Revoked is true when the grant turned out to be revoked.
	Revoked bool
	// ScopesChanged is true when Twitch reported other scopes than held.
	ScopesChanged bool
	// Err is the failure, if any (a network error leaves the grant as is).
	Err error
}

// ValidateAll validates every held token once, with bounded concurrency
// (Config.ValidationConcurrency). A refused app token is fetched again; a refused
// user token is refreshed, and if the refresh token is refused too the grant
// is marked revoked and Hooks.OnRevoked fires. Changed scopes are stored and
// reported through Hooks.OnScopesChanged. Dead and revoked grants are skipped.
func (p *Provider) ValidateAll(ctx context.Context) []ValidationResult {
	var subs []*subject
	for _, s := range p.subjects.all() {
		if e := s.cur.Load(); e != nil && e.g.active() {
			subs = append(subs, s)
		}
	}
	sort.Slice(subs, func(i, j int) bool { return subs[i].key < subs[j].key })
	return p.validateSubjects(ctx, subs) // bounded, writes batched (validate_claims.go)
}

// validateOne validates s's token, writing the result at once.
func (p *Provider) validateOne(ctx context.Context, s *subject) ValidationResult {
	return p.validateInRound(ctx, s, nil)
}

// validateInRound validates s's token; w, when not nil, batches the write
// of an unchanged grant's result (see roundWriter; flush w at the round's
// end).
func (p *Provider) validateInRound(ctx context.Context, s *subject, w *roundWriter) ValidationResult {
	res := ValidationResult{Subject: subjectOfKey(s.key)}
	e := s.cur.Load()
	if e == nil {
		res.Err = ErrUnknownSubject
		return res
	}
	if e.g.dirty {
		p.persistFlight(ctx, s)
		e = s.cur.Load()
	}
	info, err := p.cfg().Validate(ctx, e.g.access)
	if errors.Is(err, twitchauth.ErrInvalidToken) {
		_, rerr := p.renew(ctx, s, e.g.access)
		if rerr == nil {
			res.Valid, res.Renewed = true, true
			return res
		}
		res.Err = rerr
		if errors.Is(rerr, ErrGrantDead) && s.key != store.AppKey() {
			p.markRevoked(ctx, s)
			res.Revoked = true
		}
		return res
	}
	if err != nil {
		res.Err = err
		return res
	}
	res.Valid = true
	now := p.now()
	old := e.g.scopes
	scopesChanged := !sameScopes(old, info.Scopes)
	res.ScopesChanged = scopesChanged
	if scopesChanged {
		w = nil // written at once: OnScopesChanged fires after the write
	}
	uerr := p.writeValidation(ctx, w, s, e, func(r *store.Record) {
		r.LastValidated = now
		if r.AccessToken == e.g.access {
			if scopesChanged {
				r.Scopes = slices.Clone(info.Scopes)
			}
			if info.ExpiresIn > 0 {
				r.Expiry = now.Add(info.ExpiresIn)
			}
		}
	})
	if uerr != nil {
		p.log.Warn("could not store the validation result", "subject", s.key, "err", uerr)
	}
	if scopesChanged {
		p.log.Info("scopes changed", "subject", s.key, "old", old, "new", info.Scopes)
		if h := p.hooks.OnScopesChanged; h != nil {
			h(subjectOfKey(s.key), slices.Clone(old), slices.Clone(info.Scopes))
		}
	}
	return res
}

func (p *Provider) markRevoked(ctx context.Context, s *subject) {
	if err := p.updateRecord(ctx, s, func(r *store.Record) {
		r.Status = store.StatusRevoked
	}); err != nil {
		p.log.Error("could not mark the grant revoked", "subject", s.key, "err", err)
	}
	p.log.Warn("grant revoked by the user", "subject", s.key)
	if h := p.hooks.OnRevoked; h != nil {
		h(subjectOfKey(s.key))
	}
}

func sameScopes(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

// RunValidation validates every held token at once and then every interval
// (DefaultValidationInterval if interval <= 0), each round shifted by up to
// 10% of jitter so that many processes do not validate in step. It returns
// when ctx ends. report, if not nil, receives each round's results.
//
// With a store that is a store.ValidationClaimer (memory, SQLite,
// PostgreSQL), the processes sharing the store share the work instead: each
// token is validated once per interval by whichever process claims it, and
// at start-up only the tokens the fleet has not validated within the interval
// are (see runClaimedValidation and docs/scale-out.md).
func (p *Provider) RunValidation(ctx context.Context, interval time.Duration, report func([]ValidationResult)) error {
	if interval <= 0 {
		interval = DefaultValidationInterval
	}
	if c, ok := p.store.(store.ValidationClaimer); ok && !p.noClaims {
		return p.runClaimedValidation(ctx, c, interval, report) // validate_claims.go
	}
	for {
		res := p.ValidateAll(ctx)
		if report != nil {
			report(res)
		}
		wait := interval + time.Duration(rand.Int64N(int64(interval)/10+1)) - interval/20
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Validate validates one subject's token now, as ValidateAll does for
// every held token (an Intent is resolved to its user).
func (p *Provider) Validate(ctx context.Context, sub Subject) ValidationResult {
	key, err := p.keyOf(sub)
	if err != nil {
		return ValidationResult{Subject: sub, Err: err}
	}
	s, err := p.subjectFor(ctx, key)
	if err != nil {
		return ValidationResult{Subject: sub, Err: err}
	}
	return p.validateOne(ctx, s)
}
