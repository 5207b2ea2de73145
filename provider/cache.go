package provider

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"iter"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twitchauth/twitchauth/store"
)

// subject is the cache cell of one app or user token.
type subject struct {
	key string
	cur atomic.Pointer[entry]
	// indexed is the entry the login and intent indexes reflect (p.mu
	// held): they are updated by the difference between it and cur, so
	// that a change costs the same at 100,000 grants as at 10.
	indexed *entry
	gen     uint32 // the last Reload that found it (p.mu held)
	// gone is set once the subject leaves p.subjects (RemoveUser here, or
	// Reload not finding it after another replica removed it). A
	// TokenSource caches its *subject (issue 21: a cached read is then one
	// pointer load and a monotonic clock check, no map lookup); gone tells
	// it to look the key up again, even if a renewal that was in flight
	// when the subject left publishes a fresh entry on it afterwards.
	gone atomic.Bool
}

// subjectMap holds the subjects by key in shards, each a plain map under
// its own lock: adding or removing a subject copies nothing (issue 21: a
// copy-on-write map copied 100,000 entries for each user who logged in),
// and a plain map holds an entry in about 30 bytes (a sync.Map took about
// 130: it boxes each key and value).
type subjectMap struct {
	seed   maphash.Seed
	shards [subjectShards]subjectShard
}

const subjectShards = 64

type subjectShard struct {
	mu sync.RWMutex
	m  map[string]*subject
	_  [32]byte // one cache line per shard: readers of two shards do not contend
}

func newSubjectMap() *subjectMap {
	sm := &subjectMap{seed: maphash.MakeSeed()}
	for i := range sm.shards {
		sm.shards[i].m = map[string]*subject{}
	}
	return sm
}

func (sm *subjectMap) shard(key string) *subjectShard {
	return &sm.shards[maphash.String(sm.seed, key)%subjectShards]
}

func (sm *subjectMap) load(key string) *subject {
	sh := sm.shard(key)
	sh.mu.RLock()
	s := sh.m[key]
	sh.mu.RUnlock()
	return s
}

func (sm *subjectMap) store(key string, s *subject) {
	sh := sm.shard(key)
	sh.mu.Lock()
	sh.m[key] = s
	sh.mu.Unlock()
}

func (sm *subjectMap) delete(key string) {
	sh := sm.shard(key)
	sh.mu.Lock()
	delete(sh.m, key)
	sh.mu.Unlock()
}

// reserve sizes the empty shards for n subjects in all, so that loading
// 100,000 grants does not grow each shard's map step by step.
func (sm *subjectMap) reserve(n int) {
	per := n/subjectShards + n/subjectShards/8 + 1
	for i := range sm.shards {
		sh := &sm.shards[i]
		sh.mu.Lock()
		if len(sh.m) == 0 {
			sh.m = make(map[string]*subject, per)
		}
		sh.mu.Unlock()
	}
}

// all yields every subject held when it reaches the subject's shard, in no
// order. It holds no lock while yielding: the loop body may add and remove
// subjects.
func (sm *subjectMap) all() iter.Seq2[string, *subject] {
	return func(yield func(string, *subject) bool) {
		var batch []*subject
		for i := range sm.shards {
			sh := &sm.shards[i]
			sh.mu.RLock()
			batch = batch[:0]
			for _, s := range sh.m {
				batch = append(batch, s)
			}
			sh.mu.RUnlock()
			for _, s := range batch {
				if !yield(s.key, s) {
					return
				}
			}
		}
	}
}

// count returns the number of subjects for which keep is true, without
// copying them.
func (sm *subjectMap) count(keep func(*subject) bool) int {
	n := 0
	for i := range sm.shards {
		sh := &sm.shards[i]
		sh.mu.RLock()
		for _, s := range sh.m {
			if keep(s) {
				n++
			}
		}
		sh.mu.RUnlock()
	}
	return n
}

// entry is an immutable snapshot of a subject's token.
type entry struct {
	g    grant      // as stored (g.version is the CAS version), compact
	lazy *lazyToken // the entry's *Token and *oauth2.Token, built on first use
	// refreshAt is expiry - margin in Unix nanoseconds (saturated); 0:
	// unknown expiry.
	refreshAt int64
	// The fast path's copy of fresh(): on the monotonic clock, fresh until
	// freshUntil (since monoBase); 0 when not servable (revoked, dead, no
	// token), which no reading is before.
	freshUntil time.Duration
}

// monoBase anchors the monotonic readings of the fast path: time.Since of
// a time with a monotonic reading reads one clock instead of two.
var monoBase = time.Now()

// isFresh is e.fresh(now) for the fast path: with the real clock it reads
// only the monotonic clock.
func (p *Provider) isFresh(e *entry) bool {
	if p.realClock {
		return time.Since(monoBase) < e.freshUntil
	}
	return e.fresh(p.now())
}

func (e *entry) fresh(now time.Time) bool {
	return e.g.active() && (e.refreshAt == 0 || unixNano(now) < e.refreshAt)
}

// usable: active and not expired (the margin ignored).
func (e *entry) usable(now time.Time) bool {
	return e.g.active() && (e.g.expiry == noTime || now.UnixMicro() < e.g.expiry)
}

// unixNano is t.UnixNano saturated to the int64 range (t.UnixNano is
// undefined outside years 1678 to 2262; a record's times span years 1 to
// 9999), never 0: 0 means no time in entry.refreshAt.
func unixNano(t time.Time) int64 {
	switch {
	case t.Before(minNanoTime):
		return math.MinInt64
	case t.After(maxNanoTime):
		return math.MaxInt64
	}
	if n := t.UnixNano(); n != 0 {
		return n
	}
	return 1
}

var (
	minNanoTime = time.Unix(0, math.MinInt64)
	maxNanoTime = time.Unix(0, math.MaxInt64)
)

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
	if p.loadGen == 0 {
		p.subjects.reserve(recs.n)
	}
	p.loadGen++
	gen := p.loadGen
	for l := range recs.all() {
		s := p.subjects.load(l.key)
		if s == nil {
			s = &subject{key: l.key}
			p.subjects.store(l.key, s)
		}
		s.gen = gen
		if cur := s.cur.Load(); cur == nil || cur.g.version < l.e.g.version {
			s.cur.Store(l.e)
		}
	}
	// A grant renewed but never saved (the store refused it) is kept; any
	// other subject not listed any more is gone (TokenSources caching it
	// look it up again).
	for key, s := range p.subjects.all() {
		if s.gen == gen {
			continue
		}
		if e := s.cur.Load(); e != nil && e.g.dirty {
			s.gen = gen
			continue
		}
		s.gone.Store(true)
		p.subjects.delete(key)
	}
	p.rebuildIndexesLocked(recs.n)
	return nil
}

// rebuildIndexesLocked recomputes the intent and login indexes from every
// entry (Reload: once per load, not once per grant). p.mu must be held.
func (p *Provider) rebuildIndexesLocked(sizeHint int) {
	logins := make(map[string]string, max(len(p.logins), sizeHint))
	intents := map[string]string{}
	for _, s := range p.subjects.all() {
		s.indexed = s.cur.Load()
	}
	shared := 0
	for key, s := range p.subjects.all() {
		e := s.indexed
		if l, ok := loginOf(e); ok {
			if owner, taken := logins[l]; !taken {
				logins[l] = e.g.userID
			} else if shared++; p.claimWins(e, key, store.UserKey(owner)) {
				logins[l] = e.g.userID
			}
		}
		for _, in := range intentsOf(e) {
			if p.claimWins(e, key, intents[in]) {
				intents[in] = key
			}
		}
	}
	p.loginMu.Lock()
	p.logins = logins
	p.loginMu.Unlock()
	p.loginsShared.Store(int32(shared))
	p.intents.Store(&intents)
}

// reindexLocked brings the login and intent indexes from what they hold for
// s (s.indexed) to its current entry, touching only what changed. p.mu must
// be held.
func (p *Provider) reindexLocked(s *subject) {
	old, cur := s.indexed, s.cur.Load()
	if old == cur {
		return
	}
	s.indexed = cur
	ol, oldHas := loginOf(old)
	nl, curHas := loginOf(cur)
	switch {
	case ol != nl || oldHas != curHas || (curHas && old.g.userID != cur.g.userID):
		p.loginMu.Lock()
		if oldHas && p.logins[ol] == old.g.userID {
			delete(p.logins, ol)
			if p.loginsShared.Load() > 0 {
				// Another held grant may have the login too (a user renamed
				// since, whose old login someone else took). A full scan,
				// but only while two grants have been seen sharing a login.
				if _, e := p.claimant(s, func(e *entry) bool { l, ok := loginOf(e); return ok && l == ol }); e != nil {
					p.logins[ol] = e.g.userID
				}
			}
		}
		if curHas {
			if owner, taken := p.logins[nl]; !taken || owner == cur.g.userID {
				p.logins[nl] = cur.g.userID
			} else if p.loginsShared.Add(1); p.claimWins(cur, s.key, store.UserKey(owner)) {
				p.logins[nl] = cur.g.userID
			}
		}
		p.loginMu.Unlock()
	case curHas && p.loginsShared.Load() > 0 && old.g.updatedAt != cur.g.updatedAt:
		// Saved again, same login: it may now be the most recent claimant.
		p.loginMu.Lock()
		if owner := p.logins[nl]; owner != cur.g.userID && p.claimWins(cur, s.key, store.UserKey(owner)) {
			p.logins[nl] = cur.g.userID
		}
		p.loginMu.Unlock()
	}
	oi, ni := intentsOf(old), intentsOf(cur)
	if slices.Equal(oi, ni) && (len(ni) == 0 || old.g.updatedAt == cur.g.updatedAt) {
		return
	}
	m := maps.Clone(*p.intents.Load())
	for _, in := range ni {
		if owner := m[in]; owner == s.key || p.claimWins(cur, s.key, owner) {
			m[in] = s.key
		}
	}
	for _, in := range oi {
		if !slices.Contains(ni, in) && m[in] == s.key {
			// The owner let go: another claimant (during a SetIntent in
			// another process two records may claim it), else nobody. A
			// full scan, but only when an intent is let go.
			delete(m, in)
			if key, _ := p.claimant(s, func(e *entry) bool { return slices.Contains(intentsOf(e), in) }); key != "" {
				m[in] = key
			}
		}
	}
	p.intents.Store(&m)
}

// claimant returns the held subject other than s whose indexed entry
// claims something (claims) and wins over every other claimant (claimWins),
// as its key and entry; "" and nil when none claims it. p.mu must be held.
func (p *Provider) claimant(s *subject, claims func(*entry) bool) (string, *entry) {
	var best string
	var be *entry
	for key, o := range p.subjects.all() {
		if o != s && claims(o.indexed) && p.claimWins(o.indexed, key, best) {
			best, be = key, o.indexed
		}
	}
	return best, be
}

// claimWins reports whether the claim of e (the entry of subject key) to
// an intent or a login beats that of the subject owner ("" = nobody): the
// most recently saved record wins (two records claim an intent during a
// concurrent SetIntent in another process; two users have one login when
// one renamed and the other took the old name), the greater key on a tie,
// so that the indexes do not depend on the order of changes. p.mu must be
// held.
func (p *Provider) claimWins(e *entry, key, owner string) bool {
	if owner == "" || owner == key {
		return true
	}
	o := p.subjects.load(owner)
	if o == nil || o.indexed == nil {
		return true
	}
	if e.g.updatedAt != o.indexed.g.updatedAt {
		return e.g.updatedAt > o.indexed.g.updatedAt
	}
	return key > owner
}

// loginOf returns the login index key of e (its lower-case login), if e is
// a user's entry with a login.
func loginOf(e *entry) (string, bool) {
	if e == nil || e.g.status == stRemoved || e.g.userID == "" || e.g.login == "" {
		return "", false
	}
	return strings.ToLower(e.g.login), true // no allocation: logins are lower case
}

// intentsOf returns e's intents (none for a removed subject).
func intentsOf(e *entry) []string {
	if e == nil || e.g.status == stRemoved {
		return nil
	}
	return e.g.intentList()
}

// reindex is reindexLocked with p.mu taken: every publish of a new entry
// calls it, so that s.indexed never holds on to a replaced entry (an
// entry is about 250 bytes; a validation round replaces every one).
func (p *Provider) reindex(s *subject) {
	p.mu.Lock()
	p.reindexLocked(s)
	p.mu.Unlock()
}

func (p *Provider) newEntry(r store.Record, dirty bool) *entry {
	// The *Token and *oauth2.Token are made from the grant on first use
	// (load.go): most loaded grants are never read.
	e := &entry{g: p.grantOf(r), lazy: &lazyToken{}}
	e.g.dirty = dirty
	if e.g.active() {
		e.freshUntil = math.MaxInt64
	}
	if !r.Expiry.IsZero() {
		at := r.Expiry.Add(-p.margin)
		e.refreshAt = unixNano(at)
		if e.g.active() {
			e.freshUntil = monoDeadline(time.Until(at))
		}
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

func (p *Provider) lookup(key string) *subject { return p.subjects.load(key) }

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
	s := p.subjects.load(key)
	if s == nil {
		s = &subject{key: key, gen: p.loadGen}
		p.subjects.store(key, s)
	}
	if e != nil {
		if cur := s.cur.Load(); cur == nil || cur.g.version <= e.g.version {
			s.cur.Store(e)
		}
		p.reindexLocked(s)
	}
	return s
}

func (p *Provider) dropSubject(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.subjects.load(key)
	if s == nil {
		return
	}
	p.subjects.delete(key)
	// A TokenSource may still hold the dropped subject: mark it gone and
	// leave it an entry that is never fresh, so its next read goes to the
	// slow path.
	s.gone.Store(true)
	s.cur.Store(&entry{g: grant{status: stRemoved}, lazy: &lazyToken{}})
	p.reindexLocked(s)
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
		if cur != nil && cur.g.version >= r.Version {
			return
		}
		if s.cur.CompareAndSwap(cur, e) {
			p.reindex(s)
			return
		}
	}
}
