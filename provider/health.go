package provider

import (
	"context"
	"errors"
	"slices"
	"sort"
	"time"

	"github.com/twitchauth/twitchauth/store"
)

// Health is what a Provider knows to be wrong with the grants it holds.
// The zero value means nothing is.
type Health struct {
	// Unsaved lists the subjects (App, User) whose renewed token
	// the store refused to save (a full disk, a database down). The
	// Provider hands those tokens out all the same — the refresh token
	// they replace may already be spent — and saves them again in the
	// background, with backoff, until the store accepts them. Until then
	// the renewal lives only in this process: if it dies, the store still
	// holds the previous token, which with single-use refresh tokens loses
	// the grant.
	Unsaved []Subject
	// Unreadable lists the stored records of this application (or of an
	// unknown one) that the store cannot read: their tokens are corrupt or
	// sealed with another encryption key (see store.UnreadableError). The
	// other grants work; these users' tokens are not served until an
	// operator restores the key they were sealed with or removes the
	// records (store.Store.Delete; `twitchauth serve store remove KEY`).
	// Nothing removes them by itself.
	Unreadable []store.UnreadableRecord
}

// Degraded reports whether h lists any problem.
func (h Health) Degraded() bool { return len(h.Unsaved) > 0 || len(h.Unreadable) > 0 }

// Health returns what the Provider knows to be wrong with its grants. The
// unreadable records are first read again from the store (bounded by ctx):
// one that was removed meanwhile is no longer listed, and one that reads
// now is adopted.
func (p *Provider) Health(ctx context.Context) Health {
	return Health{Unsaved: p.unsaved(), Unreadable: p.recheckUnreadable(ctx)}
}

// unsaved lists the subjects whose current entry is not persisted.
func (p *Provider) unsaved() []Subject {
	var keys []string
	for key, s := range p.subjects.all() {
		if e := s.cur.Load(); e != nil && e.g.dirty {
			keys = append(keys, key)
		}
	}
	sort.Strings(keys)
	out := make([]Subject, len(keys))
	for i, k := range keys {
		out[i] = subjectOfKey(k)
	}
	return out
}

// setUnreadable records the unreadable records List reported, keeping
// those that may be this application's.
func (p *Provider) setUnreadable(recs []store.UnreadableRecord) {
	var mine []store.UnreadableRecord
	for _, r := range recs {
		if cid, _, ok := store.SplitGrantKey(r.Key); ok && cid != p.clientID {
			continue // another application's record: its own Provider reports it
		}
		p.log.Error("a stored record cannot be read; its grant is not served until the right encryption key is restored or the record is removed",
			"key", r.Key, "err", r.Err)
		mine = append(mine, r)
	}
	p.unreadable.Store(&mine)
}

// recheckUnreadable reads each unreadable record again and returns those
// still unreadable.
func (p *Provider) recheckUnreadable(ctx context.Context) []store.UnreadableRecord {
	cur := p.unreadable.Load()
	if cur == nil || len(*cur) == 0 {
		return nil
	}
	var still []store.UnreadableRecord
	changed := false
	for _, u := range *cur {
		r, err := p.store.Load(ctx, u.Key)
		switch {
		case errors.Is(err, store.ErrNotFound):
			changed = true
		case err == nil:
			changed = true
			if subj, ok := p.subjectOf(u.Key); ok {
				p.addSubject(subj, p.newEntry(r, false))
			}
		case ctx.Err() != nil:
			still = append(still, u) // not checked: keep what was known
		default:
			if err.Error() != u.Err.Error() {
				changed = true
			}
			still = append(still, store.UnreadableRecord{Key: u.Key, Err: err})
		}
	}
	if changed {
		// Unless a Reload replaced the list meanwhile.
		p.unreadable.CompareAndSwap(cur, &still)
	}
	return slices.Clone(still)
}

// Background saving of unsaved renewals: the first retry after
// persistFirstRetry, then doubling up to persistMaxRetry.
const (
	persistFirstRetry = 100 * time.Millisecond
	persistMaxRetry   = 5 * time.Second
)

// persisted is the result of a single flight that saved an unsaved entry
// instead of renewing (see persistFlight): a renewal that joined it must
// start its own.
type persisted struct{}

// persistFlight saves s's unsaved entry inside s's single flight, so that
// it never races a renewal of s (which could have the older token
// overwrite the newer one).
func (p *Provider) persistFlight(ctx context.Context, s *subject) {
	ch := p.group.DoChan(s.key, func() (any, error) {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.renewTimeout)
		defer cancel()
		if cur := s.cur.Load(); cur != nil && cur.g.dirty {
			p.persistDirty(wctx, s, cur)
		}
		return persisted{}, nil
	})
	select {
	case <-ch:
	case <-ctx.Done():
	}
}

// persistDirty saves an unsaved entry and publishes the saved one. It runs
// inside s's single flight.
func (p *Provider) persistDirty(ctx context.Context, s *subject, cur *entry) {
	e, err := p.save(ctx, s, cur.g.record(p.storeKey(s.key)), cur.g.version)
	if err != nil {
		p.log.Error("token still not stored; will retry", "subject", s.key, "err", err)
		return
	}
	p.log.Info("token stored after an earlier failure", "subject", s.key)
	p.publish(s, e)
}

// startPersister makes sure the background saver runs; it is called after
// an unsaved entry was published.
func (p *Provider) startPersister() {
	p.persistMu.Lock()
	defer p.persistMu.Unlock()
	if p.persisting {
		return
	}
	p.persisting = true
	go p.persistLoop()
}

// persistLoop saves the unsaved entries, with backoff, until none is left;
// then it ends (startPersister starts it again when needed).
func (p *Provider) persistLoop() {
	wait := persistFirstRetry
	for {
		t := time.NewTimer(wait)
		<-t.C
		for _, key := range p.unsaved() {
			if s := p.lookup(key.String()); s != nil {
				p.persistFlight(context.Background(), s)
			}
		}
		p.persistMu.Lock()
		if len(p.unsaved()) == 0 {
			p.persisting = false
			p.persistMu.Unlock()
			return
		}
		p.persistMu.Unlock()
		wait = min(2*wait, persistMaxRetry)
	}
}
