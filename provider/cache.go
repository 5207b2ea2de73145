package provider

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twitchauth/twitchauth/store"
)

// subject is the cache cell of one app or user token.
type subject struct {
	key string
	cur atomic.Pointer[entry]
	// gone is set once the subject leaves p.subjects (RemoveUser here, or
	// Reload not finding it after another replica removed it). A
	// TokenSource caches its *subject (issue 21: a cached read is then one
	// pointer load and a monotonic clock check, no map lookup); gone tells
	// it to look the key up again, even if a renewal that was in flight
	// when the subject left publishes a fresh entry on it afterwards.
	gone atomic.Bool
}

// entry is an immutable snapshot of a subject's token.
type entry struct {
	rec       store.Record // as stored (Version is the CAS version)
	lazy      *lazyToken   // the entry's *Token and *oauth2.Token, built on first use
	refreshAt time.Time    // expiry - margin; zero: unknown expiry
	dirty     bool         // not persisted yet (the store failed)

	// The fast path's copy of fresh(): servable (active, with a token) and,
	// on the monotonic clock, fresh until freshUntil (since monoBase).
	servable   bool
	freshUntil time.Duration
}

// monoBase anchors the monotonic readings of the fast path: time.Since of
// a time with a monotonic reading reads one clock instead of two.
var monoBase = time.Now()

// isFresh is e.fresh(now) for the fast path: with the real clock it reads
// only the monotonic clock.
func (p *Provider) isFresh(e *entry) bool {
	if p.realClock {
		return e.servable && time.Since(monoBase) < e.freshUntil
	}
	return e.fresh(p.now())
}

func (e *entry) fresh(now time.Time) bool {
	return e.rec.Status == store.StatusActive && e.rec.AccessToken != "" && (e.refreshAt.IsZero() || now.Before(e.refreshAt))
}

// usable: active and not expired (the margin ignored).
func (e *entry) usable(now time.Time) bool {
	return e.rec.Status == store.StatusActive && e.rec.AccessToken != "" && (e.rec.Expiry.IsZero() || now.Before(e.rec.Expiry))
}

// storeKey returns the store key of a subject of this Provider's
// application ("app", "user:<id>"): the one place where the Provider names
// records (see store.GrantKey).
func (p *Provider) storeKey(subject string) string { return store.GrantKey(p.clientID, subject) }

// subjectOf returns the subject a store key names, and false for a record
// of another application or of any other kind.
func (p *Provider) subjectOf(key string) (string, bool) {
	subj, ok := store.SubjectOf(key, p.clientID)
	if !ok {
		return "", false
	}
	if subj != store.AppKey() {
		if _, ok := store.UserIDFromKey(subj); !ok {
			return "", false
		}
	}
	return subj, true
}

// Reload reads every grant from the store again, adopting those that
// another process changed. New calls it; a broker calls it when told
// that another replica changed a grant.
//
// Records the store cannot read (store.UnreadableError) do not stop the
// others: they are logged and listed by Health until an operator restores
// the right key or removes them; their users' tokens are not served.
func (p *Provider) Reload(ctx context.Context) error {
	recs, err := p.loadEntries(ctx) // one record at a time (load.go)
	var ue *store.UnreadableError
	switch {
	case errors.As(err, &ue):
		p.setUnreadable(ue.Records)
	case err != nil:
		return fmt.Errorf("twitchauth: loading the stored grants: %w", err)
	default:
		p.setUnreadable(nil)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	old := *p.subjects.Load()
	m := make(map[string]*subject, len(recs))
	for _, l := range recs {
		s := old[l.key]
		if s == nil {
			s = &subject{key: l.key}
		}
		if cur := s.cur.Load(); cur == nil || cur.rec.Version < l.e.rec.Version {
			s.cur.Store(l.e)
		}
		m[l.key] = s
	}
	// A grant renewed but never saved (the store refused it) is kept; any
	// other subject not listed any more is gone (TokenSources caching it
	// look it up again).
	for key, s := range old {
		if _, ok := m[key]; !ok {
			if e := s.cur.Load(); e != nil && e.dirty {
				m[key] = s
			} else {
				s.gone.Store(true)
			}
		}
	}
	p.subjects.Store(&m)
	p.rebuildIndexesLocked()
	return nil
}

// rebuildIndexesLocked recomputes the intent and login maps from the current
// entries. p.mu must be held.
func (p *Provider) rebuildIndexesLocked() {
	type owner struct {
		key     string
		updated time.Time
	}
	subjects := *p.subjects.Load()
	best := map[string]owner{}
	logins := make(map[string]string, len(subjects)) // sized once: 100,000 grants
	for key, s := range subjects {
		e := s.cur.Load()
		if e == nil {
			continue
		}
		if e.rec.UserID != "" && e.rec.Login != "" {
			logins[strings.ToLower(e.rec.Login)] = e.rec.UserID
		}
		for _, in := range e.rec.Intents {
			// Two records may claim an intent during a concurrent SetIntent
			// in another process; the most recently saved wins.
			if o, ok := best[in]; !ok || e.rec.UpdatedAt.After(o.updated) {
				best[in] = owner{key, e.rec.UpdatedAt}
			}
		}
	}
	m := make(map[string]string, len(best))
	for in, o := range best {
		m[in] = o.key
	}
	p.intents.Store(&m)
	p.logins.Store(&logins)
}

func (p *Provider) newEntry(r store.Record, dirty bool) *entry {
	if r.Status == "" {
		r.Status = store.StatusActive
	}
	// The *Token and *oauth2.Token are made from rec on first use
	// (load.go): most loaded grants are never read.
	e := &entry{rec: r, lazy: &lazyToken{}, dirty: dirty}
	e.servable = r.Status == store.StatusActive && r.AccessToken != ""
	e.freshUntil = math.MaxInt64
	if !r.Expiry.IsZero() {
		e.refreshAt = r.Expiry.Add(-p.margin)
		e.freshUntil = monoDeadline(time.Until(e.refreshAt))
	}
	return e
}

// monoDeadline returns the monotonic reading (since monoBase) d from now,
// saturating instead of overflowing for an expiry centuries away.
func monoDeadline(d time.Duration) time.Duration {
	now := time.Since(monoBase)
	if d > math.MaxInt64-now {
		return math.MaxInt64
	}
	return now + d
}

func (p *Provider) lookup(key string) *subject {
	return (*p.subjects.Load())[key]
}

// subjectFor returns the subject of key, loading it from the store when
// another process added it.
func (p *Provider) subjectFor(ctx context.Context, key string) (*subject, error) {
	if s := p.lookup(key); s != nil {
		return s, nil
	}
	if key == store.AppKey() {
		return p.addSubject(key, nil), nil
	}
	r, err := p.store.Load(ctx, p.storeKey(key))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrUnknownSubject, key)
	}
	if err != nil {
		return nil, fmt.Errorf("twitchauth: loading %s: %w", key, err)
	}
	return p.addSubject(key, p.newEntry(r, false)), nil
}

// addSubject adds (or returns) the subject of key; e, when not nil, becomes
// its entry if newer than the one held.
func (p *Provider) addSubject(key string, e *entry) *subject {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := *p.subjects.Load()
	s := old[key]
	if s == nil {
		s = &subject{key: key}
		m := make(map[string]*subject, len(old)+1)
		for k, v := range old {
			m[k] = v
		}
		m[key] = s
		p.subjects.Store(&m)
	}
	if e != nil {
		if cur := s.cur.Load(); cur == nil || cur.rec.Version <= e.rec.Version {
			s.cur.Store(e)
		}
		p.rebuildIndexesLocked()
	}
	return s
}

func (p *Provider) dropSubject(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := *p.subjects.Load()
	if _, ok := old[key]; !ok {
		return
	}
	m := make(map[string]*subject, len(old))
	for k, v := range old {
		if k != key {
			m[k] = v
		}
	}
	// A TokenSource may still hold the dropped subject: mark it gone and
	// leave it an entry that is never fresh, so its next read goes to the
	// slow path.
	old[key].gone.Store(true)
	old[key].cur.Store(&entry{rec: store.Record{Key: key, Status: statusRemoved}, lazy: &lazyToken{}})
	p.subjects.Store(&m)
	p.rebuildIndexesLocked()
}

// statusRemoved marks the entry of a subject that is no longer held.
const statusRemoved = "removed"

// Watch keeps the cache coherent with other processes sharing the store:
// when the store reports that a record changed (store.Watcher), the Provider
// reloads it, adopting a token another replica renewed and dropping a grant
// another replica deleted. Once the store's notifications are live it
// reloads everything, so that a change committed after New's load but
// before the watch listened is not missed. It returns when ctx ends, and
// errors.ErrUnsupported at once if the store cannot watch. If the watch
// fails, everything is reloaded before Watch returns the error; call it again.
func (p *Provider) Watch(ctx context.Context) error {
	w, ok := p.store.(store.Watcher)
	if !ok {
		return errors.ErrUnsupported
	}
	err := w.Watch(ctx, func(key string) {
		if key == "" {
			// The store listens now; what was committed between the last
			// load and this moment was not reported (store.Watcher).
			if rerr := p.Reload(ctx); rerr != nil && ctx.Err() == nil {
				p.log.Warn("reload once the watch is live", "err", rerr)
			}
			return
		}
		p.reloadKey(ctx, key)
	})
	if ctx.Err() == nil {
		if rerr := p.Reload(context.WithoutCancel(ctx)); rerr != nil {
			p.log.Warn("reload after a failed watch", "err", rerr)
		}
	}
	return err
}

// reloadKey adopts the stored state of the record storeKey.
func (p *Provider) reloadKey(ctx context.Context, storeKey string) {
	key, ok := p.subjectOf(storeKey)
	if !ok {
		return
	}
	r, err := p.store.Load(ctx, storeKey)
	if errors.Is(err, store.ErrNotFound) {
		p.dropSubject(key)
		return
	}
	if err != nil {
		p.log.Warn("reloading a changed record", "subject", key, "err", err)
		return
	}
	s := p.lookup(key)
	if s == nil {
		p.addSubject(key, p.newEntry(r, false))
		return
	}
	e := p.newEntry(r, false)
	for {
		cur := s.cur.Load()
		if cur != nil && cur.rec.Version >= r.Version {
			return
		}
		if s.cur.CompareAndSwap(cur, e) {
			break
		}
	}
	p.mu.Lock()
	p.rebuildIndexesLocked()
	p.mu.Unlock()
}
