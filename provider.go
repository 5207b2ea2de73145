package twitchauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/sync/singleflight"

	"github.com/twitchauth/twitchauth/store"
)

// Errors of the Provider. They match with errors.Is.
var (
	// ErrUnknownSubject: the Provider holds no grant for that user or intent.
	ErrUnknownSubject = errors.New("twitchauth: no grant held for this user or intent")
	// ErrGrantRevoked: the user (or the app) revoked the grant; the user must
	// authorize again.
	ErrGrantRevoked = errors.New("twitchauth: the grant was revoked; the user must authorize again")
	// ErrGrantDead: refreshing failed permanently (Twitch refused the refresh
	// token); the user must authorize again.
	ErrGrantDead = errors.New("twitchauth: the refresh token was refused; the user must authorize again")
	// ErrIntentChanged: SetIntentIf found the intent pointing at another user
	// than the caller expected, and changed nothing.
	ErrIntentChanged = errors.New("twitchauth: the intent points at another user than expected")
)

// DefaultRefreshMargin is how long before expiry a token is renewed when no
// WithRefreshMargin option is given.
const DefaultRefreshMargin = 5 * time.Minute

// RefreshError is a failed renewal of a subject's token. Dead tells whether
// the grant is lost (Twitch refused the refresh token: the user must
// authorize again) or the failure is transient (network, 5xx, store) or a
// configuration problem (a refused client secret) that leaves the grant
// intact.
type RefreshError struct {
	// Subject is "app" or "user:<id>" (its store key is
	// store.GrantKey(clientID, Subject)).
	Subject string
	// Dead is true when the grant can no longer be refreshed.
	Dead bool
	// Err is the underlying error (an *APIError, a network or store error).
	Err error
}

func (e *RefreshError) Error() string {
	if e.Dead {
		return fmt.Sprintf("twitchauth: renewing the token of %s failed for good (the user must authorize again): %v", e.Subject, e.Err)
	}
	return fmt.Sprintf("twitchauth: renewing the token of %s failed (the grant is kept; will retry): %v", e.Subject, e.Err)
}

// Unwrap returns the underlying error, and ErrGrantDead for a dead grant.
func (e *RefreshError) Unwrap() []error {
	if e.Dead {
		return []error{e.Err, ErrGrantDead}
	}
	return []error{e.Err}
}

// Hooks are called by a Provider as tokens change. They run synchronously on
// the goroutine that renewed or validated the token, after the new state is
// published (and stored, unless the store refused it: see OnRefresh): keep
// them quick. Any may be nil.
type Hooks struct {
	// OnRefresh is called after a token was renewed and handed to the
	// cache, before it is returned to the callers. subject is "app" or
	// "user:<id>". The new token is normally stored already; if the store
	// refused the write, it is handed out all the same — with a single-use
	// refresh token the old one is spent, so withholding the new token
	// would lose the grant for certain — and Provider.Health lists the
	// subject as Unsaved until a background retry stores it.
	OnRefresh func(subject string, tok *Token)
	// OnRefreshFailure is called when a renewal failed; err.Dead tells
	// whether the grant is lost.
	OnRefreshFailure func(err *RefreshError)
	// OnRevoked is called when validation finds that a user revoked the
	// grant (the token and the refresh token are refused), or when
	// MarkRevoked is told so (EventSub's user.authorization.revoke).
	OnRevoked func(subject string, userID string)
	// OnScopesChanged is called when validation reports other scopes than
	// those held.
	OnScopesChanged func(subject string, old, new []string)
}

// ProviderOption configures a Provider.
type ProviderOption func(*Provider)

// WithStore persists every token in s (a store.Memory is used otherwise),
// under keys that hold the client ID (store.GrantKey), so applications may
// share one store. A renewed token is saved before it is handed out; if s
// refuses the write, the token is handed out anyway, kept in memory and
// saved again in the background (see Health). A grant that another process
// rotated is reloaded from s.
func WithStore(s store.Store) ProviderOption { return func(p *Provider) { p.store = s } }

// WithRefreshMargin renews tokens this long before they expire (default
// DefaultRefreshMargin).
func WithRefreshMargin(d time.Duration) ProviderOption { return func(p *Provider) { p.margin = d } }

// WithHooks sets the hooks called on refresh, failure, revocation and scope
// changes.
func WithHooks(h Hooks) ProviderOption { return func(p *Provider) { p.hooks = h } }

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) ProviderOption { return func(p *Provider) { p.now = now } }

// WithProviderLogger sets the logger (never given a secret or token).
func WithProviderLogger(l *slog.Logger) ProviderOption { return func(p *Provider) { p.log = l } }

// WithRenewTimeout bounds one renewal's upstream request, whatever the
// callers' contexts say (default 30 s); storing the renewed token then has a
// quarter of it more. With a store shared by replicas the refresh lease
// lasts one and a half times this (so that it outlives the renewal, see
// leaseTTL): a replica that dies holding it is replaced after at most that
// long.
func WithRenewTimeout(d time.Duration) ProviderOption {
	return func(p *Provider) { p.renewTimeout = d }
}

// WithValidationConcurrency bounds the concurrent /validate calls of
// ValidateAll (default 4).
func WithValidationConcurrency(n int) ProviderOption {
	return func(p *Provider) { p.validateConc = max(1, n) }
}

// Provider keeps the tokens of one application: its app token and the grants
// of many users, keyed by user ID, with named intents ("chat", "broadcaster")
// pointing at users. It hands out an oauth2.TokenSource per subject.
//
// Reading a valid cached token takes no lock and allocates nothing. A token
// that is expired, near expiry or invalidated after a 401 is renewed — app
// tokens fetched again, user tokens refreshed — by exactly one upstream
// request per subject, whatever the number of concurrent callers; all of
// them get its result. Every renewal is saved to the Store before it is
// handed out; one the Store refuses is handed out all the same, listed by
// Health and saved again in the background until the Store accepts it.
// A stored record the Store cannot read is skipped and listed by Health;
// the other grants keep working.
//
// A Provider is safe for concurrent use.
type Provider struct {
	cfgp         atomic.Pointer[Config] // replaced whole by SetClientSecret
	clientID     string                 // cfg.ClientID: the first part of every store key
	store        store.Store
	margin       time.Duration
	now          func() time.Time
	realClock    bool // now is time.Now: cached reads may use the monotonic clock
	log          *slog.Logger
	hooks        Hooks
	renewTimeout time.Duration
	validateConc int
	claimLease   time.Duration // validation claims (validator_claims.go); 0 = DefaultValidationLease
	noClaims     bool          // WithValidationClaims(false)

	mu       sync.Mutex                          // serialises writers of subjects and intents
	subjects atomic.Pointer[map[string]*subject] // copy on write: lock-free readers
	intents  atomic.Pointer[map[string]string]   // intent → subject key, copy on write
	logins   atomic.Pointer[map[string]string]   // lower-case login → user ID, copy on write
	group    singleflight.Group
	intentMu sync.Mutex // serialises SetIntent and SetIntentIf

	unreadable atomic.Pointer[[]store.UnreadableRecord] // from the last List (see Health)
	persistMu  sync.Mutex                               // guards persisting
	persisting bool                                     // persistLoop runs

	// testAfterSave, when set, runs after a renewal was saved and before it
	// is published (crash tests).
	testAfterSave func(key string)
}

// cfg returns the application's current configuration.
func (p *Provider) cfg() *Config { return p.cfgp.Load() }

// SetClientSecret replaces the client secret used from now on to get app
// tokens and refresh user tokens, without a restart: after "New Secret" in
// the developer console the old secret is refused at once (renewals fail
// with ErrInvalidClientSecret, which does not kill any grant), and this
// mends it. The Config given to NewProvider is not modified.
func (p *Provider) SetClientSecret(secret string) {
	c := *p.cfg()
	c.ClientSecret = secret
	p.cfgp.Store(&c)
}

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

// NewProvider returns a Provider for the application cfg, loading every grant
// already in the store.
func NewProvider(ctx context.Context, cfg *Config, opts ...ProviderOption) (*Provider, error) {
	p := &Provider{
		margin:       DefaultRefreshMargin,
		renewTimeout: 30 * time.Second,
		validateConc: 4,
	}
	p.cfgp.Store(cfg)
	p.clientID = cfg.ClientID
	for _, o := range opts {
		o(p)
	}
	if p.now == nil {
		p.now, p.realClock = time.Now, true
	}
	if p.store == nil {
		p.store = store.NewMemory()
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	empty := map[string]*subject{}
	p.subjects.Store(&empty)
	noIntents, noLogins := map[string]string{}, map[string]string{}
	p.intents.Store(&noIntents)
	p.logins.Store(&noLogins)
	if err := p.Reload(ctx); err != nil {
		return nil, err
	}
	return p, nil
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
// another process changed. NewProvider calls it; a broker calls it when told
// that another replica changed a grant.
//
// Records the store cannot read (store.UnreadableError) do not stop the
// others: they are logged and listed by Health until an operator restores
// the right key or removes them; their users' tokens are not served.
func (p *Provider) Reload(ctx context.Context) error {
	recs, err := p.loadEntries(ctx) // one record at a time (provider_load.go)
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
	// (provider_load.go): most loaded grants are never read.
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

// AppToken returns the app access token, fetching a new one when it is
// missing, expired or near expiry.
func (p *Provider) AppToken(ctx context.Context) (*Token, error) {
	return p.token(ctx, store.AppKey())
}

// UserToken returns the token of the user with that ID, refreshed when
// needed. An unknown user gives ErrUnknownSubject; a revoked or dead grant
// ErrGrantRevoked or ErrGrantDead.
func (p *Provider) UserToken(ctx context.Context, userID string) (*Token, error) {
	return p.token(ctx, store.UserKey(userID))
}

// IntentToken returns the token of the user the intent points at.
func (p *Provider) IntentToken(ctx context.Context, intent string) (*Token, error) {
	key, ok := (*p.intents.Load())[intent]
	if !ok {
		return nil, fmt.Errorf("%w: no user for intent %q", ErrUnknownSubject, intent)
	}
	return p.token(ctx, key)
}

// TokenWithScopes returns the token of userID if its grant has every one of
// scopes, or a *MissingScopesError naming those it lacks.
func (p *Provider) TokenWithScopes(ctx context.Context, userID string, scopes ...string) (*Token, error) {
	tok, err := p.UserToken(ctx, userID)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, s := range scopes {
		if !tok.HasScope(s) {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		return nil, &MissingScopesError{UserID: userID, Missing: missing}
	}
	return tok, nil
}

func (p *Provider) token(ctx context.Context, key string) (*Token, error) {
	s, err := p.subjectFor(ctx, key)
	if err != nil {
		return nil, err
	}
	if e := s.cur.Load(); e != nil && p.isFresh(e) {
		return e.token(), nil
	}
	e, err := p.renew(ctx, s, "")
	if err != nil {
		return nil, err
	}
	return e.token(), nil
}

// Refresh renews the subject's token now ("app" or "user:<id>"), even if it
// is still valid.
func (p *Provider) Refresh(ctx context.Context, subjectKey string) (*Token, error) {
	s, err := p.subjectFor(ctx, subjectKey)
	if err != nil {
		return nil, err
	}
	bad := ""
	if e := s.cur.Load(); e != nil {
		bad = e.rec.AccessToken
	}
	e, err := p.renew(ctx, s, bad)
	if err != nil {
		return nil, err
	}
	return e.token(), nil
}

// Invalidate reports that Helix refused accessToken (HTTP 401) for the
// subject ("app" or "user:<id>") and returns a renewed token. Concurrent
// calls for the same refused token cause one renewal; a call for a token that
// was already replaced returns the current one without a request.
func (p *Provider) Invalidate(ctx context.Context, subjectKey, accessToken string) (*Token, error) {
	s, err := p.subjectFor(ctx, subjectKey)
	if err != nil {
		return nil, err
	}
	e, err := p.renew(ctx, s, accessToken)
	if err != nil {
		return nil, err
	}
	return e.token(), nil
}

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
		if bad != "" && e.rec.AccessToken == bad {
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
	return e != nil && e.fresh(now) && (bad == "" || e.rec.AccessToken != bad)
}

func (p *Provider) doRenew(ctx context.Context, s *subject, bad string) (*entry, error) {
	now := p.now()
	cur := s.cur.Load()
	if cur != nil && cur.dirty {
		// First try again to save the renewal the store refused: its
		// refresh token is the newest.
		p.persistDirty(ctx, s, cur)
		cur = s.cur.Load()
	}
	if p.acceptable(cur, bad, now) {
		return cur, nil // renewed by the flight before ours
	}
	// Replicas sharing the store take the subject's lease, so that one of
	// them refreshes; the others find its result in the store below.
	if l, ok := p.store.(store.Leaser); ok {
		release, err := l.Lease(ctx, p.storeKey(s.key), p.leaseTTL())
		if err != nil {
			if cur != nil && cur.usable(now) && cur.rec.AccessToken != bad {
				return p.publishBackoff(s, cur, now), nil
			}
			return nil, p.failed(&RefreshError{Subject: s.key, Err: fmt.Errorf("taking the refresh lease: %w", err)})
		}
		defer release()
		now = p.now()
	}
	// The renewal itself (store, upstream) fits in one renew timeout and
	// the save in saveWindow more, well inside the lease's lifetime: past
	// it, another replica may take the lease.
	ctx, cancelWork := context.WithTimeout(ctx, p.renewTimeout)
	defer cancelWork()
	workDeadline, _ := ctx.Deadline()
	// Another process may have renewed it already: the store is the truth.
	var rec store.Record
	loaded, err := p.store.Load(ctx, p.storeKey(s.key))
	switch {
	case err == nil:
		if cur == nil || loaded.Version > cur.rec.Version {
			e := p.newEntry(loaded, false)
			p.publish(s, e)
			if p.acceptable(e, bad, now) {
				return e, nil
			}
			cur = e
		}
		rec = cur.rec
	case errors.Is(err, store.ErrNotFound):
		if s.key != store.AppKey() {
			if cur != nil && cur.dirty {
				rec = cur.rec // never saved: keep the in-memory grant
				break
			}
			p.dropSubject(s.key)
			return nil, fmt.Errorf("%w: %s was removed", ErrUnknownSubject, s.key)
		}
		rec = store.Record{Key: p.storeKey(s.key), ClientID: p.clientID}
		if cur != nil {
			rec = cur.rec
		}
	default:
		// Without the store a rotated refresh token could be lost: do not
		// refresh; a token that has not expired yet is still good.
		if cur != nil && cur.usable(now) && cur.rec.AccessToken != bad {
			p.log.Warn("token store unavailable; serving the current token until it expires", "subject", s.key, "err", err)
			return p.publishBackoff(s, cur, now), nil
		}
		return nil, p.failed(&RefreshError{Subject: s.key, Err: fmt.Errorf("loading from the store: %w", err)})
	}
	if rec.Status == store.StatusRevoked {
		return nil, fmt.Errorf("%w (%s)", ErrGrantRevoked, s.key)
	}
	if rec.Status == store.StatusDead {
		return nil, fmt.Errorf("%w (%s)", ErrGrantDead, s.key)
	}

	tok, err := p.upstream(ctx, s.key, rec)
	if err != nil && errors.Is(err, ErrInvalidRefreshToken) {
		// Another process may have rotated the refresh token since we read
		// it: reload before declaring the grant dead.
		if again, lerr := p.store.Load(ctx, p.storeKey(s.key)); lerr == nil && again.RefreshToken != rec.RefreshToken {
			e := p.newEntry(again, false)
			p.publish(s, e)
			if p.acceptable(e, bad, now) {
				return e, nil
			}
			rec = again
			tok, err = p.upstream(ctx, s.key, rec)
		}
	}
	if err != nil {
		return p.renewFailed(ctx, s, cur, rec, bad, err)
	}

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
	// The rotated refresh token is only in memory now: the save gets its own
	// window, not what the upstream request left of ctx (a slow upstream
	// used to leave it nothing; the unsaved token was then lost, and the
	// next replica refreshed with the spent one, which revokes the grant).
	saveCtx, cancelSave := context.WithDeadline(context.WithoutCancel(ctx), workDeadline.Add(p.saveWindow()))
	defer cancelSave()
	e, err := p.save(saveCtx, s, next, rec.Version)
	unsaved := err != nil
	if unsaved {
		// The token is good but could not be stored. It is handed out all
		// the same: the refresh token it replaces may be spent (single-use
		// tokens), so withholding it would lose the grant for certain. It
		// is kept in memory, marked dirty, listed by Health, and saved
		// again in the background until the store accepts it.
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
	p.log.Debug("token renewed", "subject", s.key, "expires", e.rec.Expiry)
	if h := p.hooks.OnRefresh; h != nil {
		h(s.key, e.token())
	}
	return e, nil
}

func (p *Provider) upstream(ctx context.Context, subject string, rec store.Record) (*Token, error) {
	if subject == store.AppKey() {
		return p.cfg().AppToken(ctx)
	}
	if rec.RefreshToken == "" {
		return nil, &RefreshError{Subject: subject, Dead: true, Err: errors.New("the grant has no refresh token (an implicit-flow token cannot be refreshed)")}
	}
	return p.cfg().Refresh(ctx, rec.RefreshToken)
}

// renewFailed classifies a failed renewal: a refused refresh token kills
// the grant (kept in the store, marked dead); anything else is transient and
// a token that has not expired yet is still served.
func (p *Provider) renewFailed(ctx context.Context, s *subject, cur *entry, rec store.Record, bad string, err error) (*entry, error) {
	var re *RefreshError
	if !errors.As(err, &re) {
		re = &RefreshError{Subject: s.key, Err: err}
		re.Dead = s.key != store.AppKey() && errors.Is(err, ErrInvalidRefreshToken)
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
	if cur != nil && cur.usable(now) && cur.rec.AccessToken != bad {
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
	if !cur.rec.Expiry.IsZero() && cur.rec.Expiry.Before(until) {
		until = cur.rec.Expiry
	}
	e := *cur
	e.refreshAt = until
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
	old := s.cur.Swap(e)
	if old == nil || !slices.Equal(old.rec.Intents, e.rec.Intents) || old.rec.Login != e.rec.Login {
		p.mu.Lock()
		p.rebuildIndexesLocked()
		p.mu.Unlock()
	}
}

// AddUserFromCode exchanges an authorization code and holds the user's
// grant, with the given intents pointing at the user.
func (p *Provider) AddUserFromCode(ctx context.Context, code string, intents ...string) (*Token, error) {
	tok, err := p.cfg().ExchangeCode(ctx, code)
	if err != nil {
		return nil, err
	}
	return p.AddUserToken(ctx, tok, intents...)
}

// AddUserFromDevice waits for the device flow da to complete (see
// Config.PollDevice) and holds the user's grant.
func (p *Provider) AddUserFromDevice(ctx context.Context, da *DeviceAuth, intents ...string) (*Token, error) {
	tok, err := p.cfg().PollDevice(ctx, da)
	if err != nil {
		return nil, err
	}
	return p.AddUserToken(ctx, tok, intents...)
}

// AddUserToken holds an existing user token (from a code exchange, a device
// flow, another program). It is validated first, to learn its user and
// scopes; an app token is refused. Adding a user already held replaces their
// grant.
func (p *Provider) AddUserToken(ctx context.Context, tok *Token, intents ...string) (*Token, error) {
	if tok == nil || tok.AccessToken == "" {
		return nil, errors.New("twitchauth: AddUserToken: no access token")
	}
	info, err := p.cfg().Validate(ctx, tok.AccessToken)
	if err != nil {
		return nil, err
	}
	if info.IsApp() {
		return nil, errors.New("twitchauth: AddUserToken: this is an app access token, not a user token")
	}
	t := *tok
	t.UserID, t.Login, t.ClientID = info.UserID, info.Login, info.ClientID
	t.Scopes = slices.Clone(info.Scopes)
	if info.ExpiresIn > 0 {
		t.Expiry = p.now().Add(info.ExpiresIn)
	}
	key := store.UserKey(t.UserID)
	rec := store.Record{
		Key: p.storeKey(key), ClientID: t.ClientID, UserID: t.UserID, Login: t.Login,
		AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, TokenType: t.TokenType,
		Scopes: t.Scopes, Expiry: t.Expiry, Status: store.StatusActive, LastValidated: p.now(),
	}
	var expect int64
	if old, err := p.store.Load(ctx, rec.Key); err == nil {
		expect = old.Version
		rec.Intents = old.Intents
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	for _, in := range intents {
		if !slices.Contains(rec.Intents, in) {
			rec.Intents = append(rec.Intents, in)
		}
	}
	s := p.addSubject(key, nil)
	e, err := p.save(ctx, s, rec, expect)
	if err != nil {
		return nil, fmt.Errorf("twitchauth: storing the grant of user %s: %w", t.UserID, err)
	}
	p.publish(s, e)
	for _, in := range intents {
		if err := p.SetIntent(ctx, in, t.UserID); err != nil {
			return nil, err
		}
	}
	return e.token(), nil
}

// SetIntent points intent at the user (who must be held), removing it from
// any other user.
func (p *Provider) SetIntent(ctx context.Context, intent, userID string) error {
	if intent == "" {
		return errors.New("twitchauth: empty intent name")
	}
	p.intentMu.Lock()
	defer p.intentMu.Unlock()
	return p.setIntent(ctx, intent, userID)
}

// SetIntentIf points intent at the user to (who must be held), or at nobody
// when to is "", but only if it now points at from ("" = at nobody);
// otherwise it changes nothing and returns an error wrapping
// ErrIntentChanged that names the current user. Unlike SetIntent it never
// moves an intent away from a user the caller did not name: use it when
// moving an intent must be a deliberate act. Calls in one process are
// serialised; processes sharing a store can still race (the most recently
// saved record wins, as with SetIntent).
func (p *Provider) SetIntentIf(ctx context.Context, intent, from, to string) error {
	if intent == "" {
		return errors.New("twitchauth: empty intent name")
	}
	p.intentMu.Lock()
	defer p.intentMu.Unlock()
	cur := ""
	if key, ok := (*p.intents.Load())[intent]; ok {
		cur, _ = store.UserIDFromKey(key)
	}
	if cur != from {
		now := "nobody"
		if cur != "" {
			now = "user " + cur
		}
		return fmt.Errorf("%w: intent %q points at %s", ErrIntentChanged, intent, now)
	}
	if to == from {
		return nil
	}
	if to != "" {
		return p.setIntent(ctx, intent, to)
	}
	s := p.lookup(store.UserKey(from))
	if s == nil {
		return nil
	}
	return p.updateRecord(ctx, s, func(r *store.Record) {
		r.Intents = slices.DeleteFunc(r.Intents, func(x string) bool { return x == intent })
	})
}

// setIntent is SetIntent with p.intentMu held.
func (p *Provider) setIntent(ctx context.Context, intent, userID string) error {
	target := store.UserKey(userID)
	if _, err := p.subjectFor(ctx, target); err != nil {
		return err
	}
	for key, s := range *p.subjects.Load() {
		e := s.cur.Load()
		if e == nil {
			continue
		}
		has := slices.Contains(e.rec.Intents, intent)
		if (key == target) == has {
			continue
		}
		if err := p.updateRecord(ctx, s, func(r *store.Record) {
			if key == target {
				if !slices.Contains(r.Intents, intent) {
					r.Intents = append(r.Intents, intent)
				}
			} else {
				r.Intents = slices.DeleteFunc(r.Intents, func(x string) bool { return x == intent })
			}
		}); err != nil {
			return err
		}
	}
	return nil
}

// updateRecord applies change to the stored record of s with CAS retries
// and publishes the result.
func (p *Provider) updateRecord(ctx context.Context, s *subject, change func(*store.Record)) error {
	for range 5 {
		rec, err := p.store.Load(ctx, p.storeKey(s.key))
		if err != nil {
			return err
		}
		change(&rec)
		saved, err := p.store.Save(ctx, rec, rec.Version)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return err
		}
		p.publish(s, p.newEntry(saved, false))
		return nil
	}
	return fmt.Errorf("twitchauth: updating %s: too many concurrent writers", s.key)
}

// RemoveUser forgets the user's grant. With revoke, the access and refresh
// tokens are revoked at Twitch first (a failure to revoke is returned and
// the grant is kept).
func (p *Provider) RemoveUser(ctx context.Context, userID string, revoke bool) error {
	key := store.UserKey(userID)
	rec, err := p.store.Load(ctx, p.storeKey(key))
	if errors.Is(err, store.ErrNotFound) {
		p.dropSubject(key)
		return fmt.Errorf("%w: %s", ErrUnknownSubject, key)
	}
	if err != nil {
		return err
	}
	if revoke {
		for _, t := range []string{rec.AccessToken, rec.RefreshToken} {
			if t == "" {
				continue
			}
			if err := p.cfg().Revoke(ctx, t); err != nil && !errors.Is(err, ErrInvalidToken) {
				return err
			}
		}
	}
	if err := p.store.Delete(ctx, p.storeKey(key)); err != nil {
		return err
	}
	p.dropSubject(key)
	return nil
}

// Account describes one held grant, for listings.
type Account struct {
	UserID, Login string
	Scopes        []string
	Intents       []string
	Expiry        time.Time
	LastValidated time.Time
	// Status is store.StatusActive, StatusRevoked or StatusDead.
	Status string
}

// Users lists the users whose grants are held, sorted by login.
func (p *Provider) Users() []Account {
	var out []Account
	for key, s := range *p.subjects.Load() {
		if e := s.cur.Load(); key != store.AppKey() && e != nil {
			out = append(out, accountOf(e))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Login < out[j].Login })
	return out
}

// User returns the grant held for userID, without listing every user.
func (p *Provider) User(userID string) (Account, bool) {
	s := p.lookup(store.UserKey(userID))
	if s == nil {
		return Account{}, false
	}
	e := s.cur.Load()
	if e == nil || e.rec.Status == statusRemoved {
		return Account{}, false
	}
	return accountOf(e), true
}

func accountOf(e *entry) Account {
	return Account{
		UserID: e.rec.UserID, Login: e.rec.Login, Scopes: slices.Clone(e.rec.Scopes),
		Intents: slices.Clone(e.rec.Intents), Expiry: e.rec.Expiry,
		LastValidated: e.rec.LastValidated, Status: e.rec.Status,
	}
}

// LookupLogin returns the user ID of a held user by login (case-insensitive).
func (p *Provider) LookupLogin(login string) (string, bool) {
	id, ok := (*p.logins.Load())[strings.ToLower(login)]
	return id, ok
}

// Intents returns the intent → user ID map.
func (p *Provider) Intents() map[string]string {
	out := map[string]string{}
	for in, key := range *p.intents.Load() {
		id, _ := store.UserIDFromKey(key)
		out[in] = id
	}
	return out
}

// TokenSource is an oauth2.TokenSource for one subject of a Provider. Its
// Token method takes no lock and allocates nothing while the cached token is
// valid. The returned *oauth2.Token is shared: do not modify it.
type TokenSource struct {
	p      *Provider
	key    string // subject key, or "" when intent is set
	intent string
	sub    atomic.Pointer[subject] // cached subject of key (not for intents)
}

// AppTokenSource returns the TokenSource of the app token.
func (p *Provider) AppTokenSource() *TokenSource { return &TokenSource{p: p, key: store.AppKey()} }

// UserTokenSource returns the TokenSource of a user's token.
func (p *Provider) UserTokenSource(userID string) *TokenSource {
	return &TokenSource{p: p, key: store.UserKey(userID)}
}

// IntentTokenSource returns the TokenSource of whichever user the intent
// points at when Token is called.
func (p *Provider) IntentTokenSource(intent string) *TokenSource {
	return &TokenSource{p: p, intent: intent}
}

var _ oauth2.TokenSource = (*TokenSource)(nil)

func (ts *TokenSource) subjectKey() (string, error) {
	if ts.intent == "" {
		return ts.key, nil
	}
	key, ok := (*ts.p.intents.Load())[ts.intent]
	if !ok {
		return "", fmt.Errorf("%w: no user for intent %q", ErrUnknownSubject, ts.intent)
	}
	return key, nil
}

// Token returns a valid token, renewing it when needed (oauth2.TokenSource).
func (ts *TokenSource) Token() (*oauth2.Token, error) {
	return ts.TokenContext(context.Background())
}

// TokenContext is Token with a context bounding the wait for a renewal.
func (ts *TokenSource) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	// Fast path of a user or app source: the cached *subject (see
	// subject.gone), its entry, one monotonic clock reading. No map lookup.
	if s := ts.sub.Load(); s != nil && !s.gone.Load() {
		if e := s.cur.Load(); e != nil && ts.p.isFresh(e) {
			return e.oauth2(), nil
		}
	}
	key, err := ts.subjectKey()
	if err != nil {
		return nil, err
	}
	if s := ts.p.lookup(key); s != nil {
		if ts.intent == "" {
			ts.sub.Store(s)
		}
		if e := s.cur.Load(); e != nil && ts.p.isFresh(e) {
			return e.oauth2(), nil
		}
	}
	s, err := ts.p.subjectFor(ctx, key)
	if err != nil {
		return nil, err
	}
	if ts.intent == "" {
		ts.sub.Store(s)
	}
	e, err := ts.p.renew(ctx, s, "")
	if err != nil {
		return nil, err
	}
	return e.oauth2(), nil
}

// Invalidate reports that Helix refused the access token (HTTP 401) and
// returns a renewed one; see Provider.Invalidate.
func (ts *TokenSource) Invalidate(ctx context.Context, accessToken string) (*oauth2.Token, error) {
	key, err := ts.subjectKey()
	if err != nil {
		return nil, err
	}
	s, err := ts.p.subjectFor(ctx, key)
	if err != nil {
		return nil, err
	}
	e, err := ts.p.renew(ctx, s, accessToken)
	if err != nil {
		return nil, err
	}
	return e.oauth2(), nil
}

// Subject returns the store key of the subject the source currently serves
// ("app", "user:<id>"), resolving an intent; "" if the intent is unset.
func (ts *TokenSource) Subject() string {
	key, _ := ts.subjectKey()
	return key
}

// ClientID returns the client ID of the Provider's application.
func (ts *TokenSource) ClientID() string { return ts.p.cfg().ClientID }

var _ ScopeReporter = (*TokenSource)(nil)

// TokenScopes returns the scopes of tok, a user token this source returned
// (as stored and last validated), so that a Transport can refuse a request
// they cannot satisfy before sending it (ScopeReporter). App tokens and
// tokens from elsewhere give ok=false.
func (ts *TokenSource) TokenScopes(tok *oauth2.Token) ([]string, bool) {
	if tok == nil {
		return nil, false
	}
	if uid, _ := tok.Extra(extraUserID).(string); uid == "" {
		return nil, false
	}
	sc, ok := tok.Extra(extraScope).([]string)
	return sc, ok
}

// Watch keeps the cache coherent with other processes sharing the store:
// when the store reports that a record changed (store.Watcher), the Provider
// reloads it, adopting a token another replica renewed and dropping a grant
// another replica deleted. It returns when ctx ends, and
// errors.ErrUnsupported at once if the store cannot watch. If the watch
// fails, everything is reloaded before Watch returns the error; call it again.
func (p *Provider) Watch(ctx context.Context) error {
	w, ok := p.store.(store.Watcher)
	if !ok {
		return errors.ErrUnsupported
	}
	err := w.Watch(ctx, func(key string) { p.reloadKey(ctx, key) })
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
