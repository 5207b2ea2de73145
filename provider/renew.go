package provider

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twitchauth/twitchauth"

	"github.com/twitchauth/twitchauth/store"
)

// renew renews s's token through a single flight per subject. bad, when not
// empty, is an access token known to be refused: an entry holding it is not
// reused.
func (p *Provider) renew(ctx context.Context, s *subject, bad string) (*entry, error) {
	ch := p.group.DoChan(s.key, func() (any, error) {
		// The renewal outlives a caller that gives up: the others wait for it
		// and its result is stored either way.
		// Waiting for another replica's lease (which lapses after leaseTTL if
		// its holder died), then our own upstream request, bounded by one
		// renew timeout below (the save has a window of its own).
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.leaseTTL()+p.renewTimeout)
		defer cancel()
		return p.doRenew(rctx, s, bad)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		if _, ok := r.Val.(persisted); ok {
			// We joined a flight that saved an unsaved token, not a
			// renewal: renew now.
			return p.renew(ctx, s, bad)
		}
		e := r.Val.(*entry)
		if bad != "" && e.g.access == bad {
			// We joined a flight that did not know about our refused token
			// (it renewed for expiry, found a fresh token and kept it).
			return p.renew(ctx, s, bad)
		}
		return e, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// leaseTTL is the lifetime of the refresh lease: the renew timeout (the
// upstream request) plus saveWindow (storing its result) plus as much again
// as a margin, so that the lease cannot lapse while its holder still works.
// The holder counts its deadlines from when Lease returned, the store counts
// the lease from when it granted it (earlier, by the database round trip,
// which under load was seen to take 750 ms): without the margin a second
// replica could take the lapsed lease and refresh with the same single-use
// refresh token, which revokes the grant.
func (p *Provider) leaseTTL() time.Duration { return p.renewTimeout + 2*p.saveWindow() }

// saveWindow is the time given to storing a renewed token past the upstream
// request's deadline: the rotated refresh token exists only in memory until
// it is stored, so the save must not inherit what a slow upstream request
// left of the renewal's deadline.
func (p *Provider) saveWindow() time.Duration { return p.renewTimeout / 4 }

func (p *Provider) acceptable(e *entry, bad string, now time.Time) bool {
	return e != nil && e.fresh(now) && (bad == "" || e.g.access != bad)
}

// doRenew is one renewal of s's token (inside renew's single flight). It
// is a sequence of steps; each may settle the renewal — with an entry to
// hand out or an error — and then the ones after it do not run:
//
//  1. reuse: a renewal the store refused earlier is saved again, and a
//     fresh token (renewed by the flight before ours) is taken as is;
//  2. lease: with a store shared by replicas, take the subject's refresh
//     lease, so that one replica refreshes;
//  3. readStore: the store is the truth — adopt what another process
//     renewed, and find the record to renew;
//  4. checkStatus: a revoked or dead grant is refused;
//  5. fetch: the upstream request (a new app token, or a refresh), tried
//     again once if another process rotated the refresh token meanwhile;
//  6. commit: store the new token (in a save window of its own), publish
//     it and call the hooks.
//
// A still-usable token is served, with a back-off, when the lease or the
// store cannot be had or the upstream request fails transiently.
func (p *Provider) doRenew(ctx context.Context, s *subject, bad string) (*entry, error) {
	r := &renewal{p: p, s: s, bad: bad, now: p.now(), cur: s.cur.Load()}
	if e := r.reuse(ctx); e != nil {
		return e, nil
	}
	release, e, err := r.lease(ctx)
	if e != nil || err != nil {
		return e, err
	}
	defer release()
	// The renewal itself (store, upstream) fits in one renew timeout and
	// the save in saveWindow more, well inside the lease's lifetime: past
	// it, another replica may take the lease.
	ctx, cancelWork := context.WithTimeout(ctx, p.renewTimeout)
	defer cancelWork()
	workDeadline, _ := ctx.Deadline()
	if e, err := r.readStore(ctx); e != nil || err != nil {
		return e, err
	}
	if err := r.checkStatus(); err != nil {
		return nil, err
	}
	tok, e, err := r.fetch(ctx)
	if e != nil || err != nil {
		return e, err
	}
	return r.commit(ctx, tok, workDeadline), nil
}

// renewal is the state of one doRenew.
type renewal struct {
	p   *Provider
	s   *subject
	bad string    // an access token known to be refused, or ""
	now time.Time // read again once the lease is held
	cur *entry    // the entry being replaced (nil: none yet)
	rec store.Record
}

// servable reports whether the current token may still be handed out
// although it could not be renewed: active, not expired, not refused.
func (r *renewal) servable() bool {
	return r.cur != nil && r.cur.usable(r.now) && r.cur.g.access != r.bad
}

// reuse returns the current entry when it settles the renewal. A renewal
// the store refused is first saved again: its refresh token is the newest.
func (r *renewal) reuse(ctx context.Context) *entry {
	if r.cur != nil && r.cur.g.dirty {
		r.p.persistDirty(ctx, r.s, r.cur)
		r.cur = r.s.cur.Load()
	}
	if r.p.acceptable(r.cur, r.bad, r.now) {
		return r.cur // renewed by the flight before ours
	}
	return nil
}

// lease takes the subject's refresh lease when replicas share the store
// (store.Leaser), so that one of them refreshes; the others find its
// result in the store. Without the lease a servable token settles the
// renewal; release is nil then.
func (r *renewal) lease(ctx context.Context) (release func(), settled *entry, err error) {
	l, ok := r.p.store.(store.Leaser)
	if !ok {
		return func() {}, nil, nil
	}
	release, err = l.Lease(ctx, r.p.storeKey(r.s.key), r.p.leaseTTL())
	if err != nil {
		if r.servable() {
			return nil, r.p.publishBackoff(r.s, r.cur, r.now), nil
		}
		return nil, nil, r.p.failed(&RefreshError{Subject: subjectOfKey(r.s.key), Err: fmt.Errorf("taking the refresh lease: %w", err)})
	}
	r.now = r.p.now()
	return release, nil, nil
}

// readStore loads the subject's record — another process may have renewed
// it already: the store is the truth — and sets r.rec to the record to
// renew. A newer stored token that is fresh settles the renewal; so does a
// grant removed meanwhile (ErrUnknownSubject) and an unreadable store
// (a servable token is served: without the store a rotated refresh token
// could be lost, so there is no refresh).
func (r *renewal) readStore(ctx context.Context) (*entry, error) {
	p, s := r.p, r.s
	loaded, err := p.store.Load(ctx, p.storeKey(s.key))
	switch {
	case err == nil:
		if r.cur == nil || loaded.Version > r.cur.g.version {
			e := p.newEntry(loaded, false)
			p.publish(s, e)
			if p.acceptable(e, r.bad, r.now) {
				return e, nil
			}
			r.cur = e
		}
		r.rec = r.cur.g.record(p.storeKey(s.key))
	case errors.Is(err, store.ErrNotFound):
		if s.key != store.AppKey() {
			if r.cur != nil && r.cur.g.dirty {
				r.rec = r.cur.g.record(p.storeKey(s.key)) // never saved: keep the in-memory grant
				return nil, nil
			}
			p.dropSubject(s.key)
			return nil, fmt.Errorf("%w: %s was removed", ErrUnknownSubject, s.key)
		}
		r.rec = store.Record{Key: p.storeKey(s.key), ClientID: p.clientID}
		if r.cur != nil {
			r.rec = r.cur.g.record(r.rec.Key)
		}
	default:
		if r.servable() {
			p.log.Warn("token store unavailable; serving the current token until it expires", "subject", s.key, "err", err)
			return p.publishBackoff(s, r.cur, r.now), nil
		}
		return nil, p.failed(&RefreshError{Subject: subjectOfKey(s.key), Err: fmt.Errorf("loading from the store: %w", err)})
	}
	return nil, nil
}

// checkStatus refuses a grant the store marks revoked or dead.
func (r *renewal) checkStatus() error {
	switch r.rec.Status {
	case store.StatusRevoked:
		return fmt.Errorf("%w (%s)", ErrGrantRevoked, r.s.key)
	case store.StatusDead:
		return fmt.Errorf("%w (%s)", ErrGrantDead, r.s.key)
	}
	return nil
}

// fetch sends the upstream request. A refused refresh token is checked
// against the store first: if another process rotated it since we read
// it, its token is adopted (when fresh) or refreshed in turn. A failure is
// classified by renewFailed, which settles the renewal.
func (r *renewal) fetch(ctx context.Context) (tok *twitchauth.Token, settled *entry, err error) {
	p, s := r.p, r.s
	tok, err = p.upstream(ctx, s.key, r.rec)
	if err != nil && errors.Is(err, twitchauth.ErrInvalidRefreshToken) {
		if again, lerr := p.store.Load(ctx, p.storeKey(s.key)); lerr == nil && again.RefreshToken != r.rec.RefreshToken {
			e := p.newEntry(again, false)
			p.publish(s, e)
			if p.acceptable(e, r.bad, r.now) {
				return nil, e, nil
			}
			r.rec = again
			tok, err = p.upstream(ctx, s.key, r.rec)
		}
	}
	if err != nil {
		settled, err = p.renewFailed(ctx, s, r.cur, r.rec, r.bad, err)
		return nil, settled, err
	}
	return tok, nil, nil
}

// commit stores the renewed token and publishes it. The rotated refresh
// token is only in memory now: the save gets its own window past the
// work's deadline, not what the upstream request left of ctx (a slow
// upstream used to leave it nothing; the unsaved token was then lost, and
// the next replica refreshed with the spent one, which revokes the grant).
// A token the store refuses is handed out all the same: the refresh token
// it replaces may be spent (single-use tokens), so withholding it would
// lose the grant for certain. It is kept in memory, marked dirty, listed by
// Health, and saved again in the background until the store accepts it.
func (r *renewal) commit(ctx context.Context, tok *twitchauth.Token, workDeadline time.Time) *entry {
	p, s, rec := r.p, r.s, r.rec
	next := rec
	next.AccessToken = tok.AccessToken
	if tok.RefreshToken != "" {
		next.RefreshToken = tok.RefreshToken
	}
	next.TokenType = tok.TokenType
	next.Expiry = tok.Expiry
	if !tok.Expiry.IsZero() {
		// The client stamps expiry with the wall clock; rebase it on ours.
		next.Expiry = p.now().Add(time.Until(tok.Expiry))
	}
	if len(tok.Scopes) > 0 || s.key == store.AppKey() {
		next.Scopes = tok.Scopes
	}
	next.ClientID = p.clientID
	next.Status = store.StatusActive
	saveCtx, cancelSave := context.WithDeadline(context.WithoutCancel(ctx), workDeadline.Add(p.saveWindow()))
	defer cancelSave()
	e, err := p.save(saveCtx, s, next, rec.Version)
	unsaved := err != nil
	if unsaved {
		p.log.Error("token renewed but not stored; keeping it in memory and retrying the save", "subject", s.key, "err", err)
		next.Version = rec.Version
		e = p.newEntry(next, true)
	}
	if p.testAfterSave != nil {
		p.testAfterSave(s.key)
	}
	p.publish(s, e)
	if unsaved {
		p.startPersister()
	}
	p.log.Debug("token renewed", "subject", s.key, "expires", timeOf(e.g.expiry))
	if h := p.hooks.OnRefresh; h != nil {
		h(subjectOfKey(s.key), e.token())
	}
	return e
}

func (p *Provider) upstream(ctx context.Context, subject string, rec store.Record) (*twitchauth.Token, error) {
	if subject == store.AppKey() {
		return p.cfg().AppToken(ctx)
	}
	if rec.RefreshToken == "" {
		return nil, &RefreshError{Subject: subjectOfKey(subject), Dead: true, Err: errors.New("the grant has no refresh token (an implicit-flow token cannot be refreshed)")}
	}
	return p.cfg().Refresh(ctx, rec.RefreshToken)
}

// renewFailed classifies a failed renewal: a refused refresh token kills
// the grant (kept in the store, marked dead); anything else is transient and
// a token that has not expired yet is still served.
func (p *Provider) renewFailed(ctx context.Context, s *subject, cur *entry, rec store.Record, bad string, err error) (*entry, error) {
	var re *RefreshError
	if !errors.As(err, &re) {
		re = &RefreshError{Subject: subjectOfKey(s.key), Err: err}
		re.Dead = s.key != store.AppKey() && errors.Is(err, twitchauth.ErrInvalidRefreshToken)
	}
	if re.Dead {
		rec.Status = store.StatusDead
		if e, serr := p.save(ctx, s, rec, rec.Version); serr == nil {
			p.publish(s, e)
		} else {
			p.log.Error("could not mark the grant dead in the store", "subject", s.key, "err", serr)
		}
		p.log.Warn("grant lost: the refresh token was refused", "subject", s.key)
		return nil, p.failed(re)
	}
	p.log.Warn("token renewal failed; the grant is kept", "subject", s.key, "err", err)
	p.failed(re)
	now := p.now()
	if cur != nil && cur.usable(now) && cur.g.access != bad {
		// Serve the current token without asking again for a while: during
		// an outage, every read inside the refresh margin would otherwise
		// send one more renewal upstream.
		return p.publishBackoff(s, cur, now), nil
	}
	return nil, re
}

// RenewRetryBackoff is how long a token that failed to renew (transiently)
// but has not expired yet is served before the next renewal attempt.
const RenewRetryBackoff = 10 * time.Second

// publishBackoff publishes a copy of cur that counts as fresh until
// RenewRetryBackoff from now (never past its expiry), unless another
// renewal replaced cur meanwhile.
func (p *Provider) publishBackoff(s *subject, cur *entry, now time.Time) *entry {
	until := now.Add(RenewRetryBackoff)
	if exp := timeOf(cur.g.expiry); !exp.IsZero() && exp.Before(until) {
		until = exp
	}
	e := *cur
	e.refreshAt = unixNano(until)
	e.freshUntil = monoDeadline(until.Sub(now))
	if s.cur.CompareAndSwap(cur, &e) {
		return &e
	}
	return cur
}

func (p *Provider) failed(re *RefreshError) *RefreshError {
	if h := p.hooks.OnRefreshFailure; h != nil {
		h(re)
	}
	return re
}

// save writes next with compare-and-swap. On a conflict (another process
// wrote meanwhile) it overlays the token fields on the latest record and
// tries again, keeping that record's intents.
func (p *Provider) save(ctx context.Context, s *subject, next store.Record, expect int64) (*entry, error) {
	for range 5 {
		saved, err := p.store.Save(ctx, next, expect)
		if err == nil {
			return p.newEntry(saved, false), nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return nil, err
		}
		latest, lerr := p.store.Load(ctx, p.storeKey(s.key))
		switch {
		case errors.Is(lerr, store.ErrNotFound):
			expect = 0
		case lerr != nil:
			return nil, lerr
		default:
			next.Intents = latest.Intents
			if latest.Status == store.StatusRevoked && next.Status != store.StatusRevoked {
				next.Status = latest.Status
			}
			expect = latest.Version
		}
	}
	return nil, fmt.Errorf("twitchauth: saving %s: too many concurrent writers", s.key)
}

func (p *Provider) publish(s *subject, e *entry) {
	s.cur.Store(e)
	p.reindex(s)
}
