package provider

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twitchauth/twitchauth"

	"golang.org/x/sync/singleflight"

	"github.com/twitchauth/twitchauth/store"
)

// DefaultRefreshMargin is how long before expiry a token is renewed when no
// Config.RefreshMargin is given.
const DefaultRefreshMargin = 5 * time.Minute

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
	OnRefresh func(sub Subject, tok *twitchauth.Token)
	// OnRefreshFailure is called when a renewal failed; err.Dead tells
	// whether the grant is lost.
	OnRefreshFailure func(err *RefreshError)
	// OnRevoked is called when validation finds that a user revoked the
	// grant (the token and the refresh token are refused), or when
	// MarkRevoked is told so (EventSub's user.authorization.revoke).
	OnRevoked func(sub Subject)
	// OnScopesChanged is called when validation reports other scopes than
	// those held.
	OnScopesChanged func(sub Subject, old, new []string)
}

// Config configures a Provider. Only OAuth is required; a zero field takes
// its default.
type Config struct {
	// OAuth is the application: client ID and secret, endpoints, HTTP
	// client. It is not modified (see Provider.SetClientSecret).
	OAuth *twitchauth.Config
	// Store persists every token (default: a new store.Memory), under keys
	// that hold the client ID (store.GrantKey), so applications may share
	// one store. A renewed token is saved before it is handed out; if the
	// store refuses the write, the token is handed out anyway, kept in
	// memory and saved again in the background (see Health). A grant that
	// another process rotated is reloaded from the store.
	Store store.Store
	// RefreshMargin renews tokens this long before they expire (zero:
	// DefaultRefreshMargin; negative: only once they expired).
	RefreshMargin time.Duration
	// RenewTimeout bounds one renewal's upstream request, whatever the
	// callers' contexts say (default 30 s); storing the renewed token then
	// has a quarter of it more. With a store shared by replicas the refresh
	// lease lasts one and a half times this (so that it outlives the
	// renewal, see leaseTTL): a replica that dies holding it is replaced
	// after at most that long.
	RenewTimeout time.Duration
	// ValidationConcurrency bounds the concurrent /validate calls of
	// ValidateAll (default 4).
	ValidationConcurrency int
	// ValidationLease is how long a claim on grants to validate lasts
	// (default DefaultValidationLease), with stores that are a
	// store.ValidationClaimer. The Provider stops validating a claimed
	// batch at three quarters of the lease and leaves the rest to be
	// claimed again, so that no two processes validate one grant at once;
	// the lease must exceed a batch's validations (8 ×
	// ValidationConcurrency tokens) with renewals.
	ValidationLease time.Duration
	// NoValidationClaims makes RunValidation validate every held token
	// every interval in this process even when the store could share the
	// work between processes (the behaviour for stores that are not a
	// store.ValidationClaimer). By default the work is shared.
	NoValidationClaims bool
	// Hooks are called on refresh, failure, revocation and scope changes.
	Hooks Hooks
	// Logger receives the Provider's logs (never a secret or token);
	// default: discarded.
	Logger *slog.Logger
	// Now replaces time.Now (tests).
	Now func() time.Time
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
	cfgp         atomic.Pointer[twitchauth.Config] // replaced whole by SetClientSecret
	clientID     string                            // cfg.ClientID: the first part of every store key
	store        store.Store
	margin       time.Duration
	now          func() time.Time
	realClock    bool // now is time.Now: cached reads may use the monotonic clock
	log          *slog.Logger
	hooks        Hooks
	renewTimeout time.Duration
	validateConc int
	claimLease   time.Duration // validation claims (validate_claims.go); 0 = DefaultValidationLease
	noClaims     bool          // Config.NoValidationClaims

	mu       sync.Mutex                        // serialises writers of subjects, intents and logins
	subjects *subjectMap                       // sharded; adding one costs the same at any size
	intents  atomic.Pointer[map[string]string] // intent → subject key, copy on write (a few)
	loginMu  sync.RWMutex                      // guards logins (written with mu held)
	logins   map[string]string                 // lower-case login → user ID
	loadGen  uint32                            // Reload's generation (subject.gen); mu held
	// loginsShared counts the logins seen claimed by two held grants since
	// the last rebuild (mu held): while it is 0, letting a login go needs no
	// search for another claimant.
	loginsShared atomic.Int32
	scopeSets    scopeSets // shared scope lists (grant.go)
	group        singleflight.Group
	intentMu     sync.Mutex // serialises SetIntent and SetIntentIf

	unreadable atomic.Pointer[[]store.UnreadableRecord] // from the last List (see Health)
	persistMu  sync.Mutex                               // guards persisting
	persisting bool                                     // persistLoop runs

	// testAfterSave, when set, runs after a renewal was saved and before it
	// is published (crash tests).
	testAfterSave func(key string)
}

// cfg returns the application's current configuration.
func (p *Provider) cfg() *twitchauth.Config { return p.cfgp.Load() }

// SetClientSecret replaces the client secret used from now on to get app
// tokens and refresh user tokens, without a restart: after "New Secret" in
// the developer console the old secret is refused at once (renewals fail
// with ErrInvalidClientSecret, which does not kill any grant), and this
// mends it. The twitchauth.Config given to New is not modified.
func (p *Provider) SetClientSecret(secret string) {
	c := *p.cfg()
	c.ClientSecret = secret
	p.cfgp.Store(&c)
}

// New returns a Provider for the application cfg.OAuth, loading every
// grant already in the store.
func New(ctx context.Context, cfg Config) (*Provider, error) {
	if cfg.OAuth == nil {
		return nil, errors.New("twitchauth: provider.Config.OAuth is required")
	}
	p := &Provider{
		margin:       cfg.RefreshMargin,
		renewTimeout: cfg.RenewTimeout,
		validateConc: max(1, cfg.ValidationConcurrency),
		store:        cfg.Store,
		hooks:        cfg.Hooks,
		log:          cfg.Logger,
		now:          cfg.Now,
		claimLease:   cfg.ValidationLease,
		noClaims:     cfg.NoValidationClaims,
	}
	switch {
	case p.margin == 0:
		p.margin = DefaultRefreshMargin
	case p.margin < 0:
		p.margin = 0
	}
	if p.renewTimeout <= 0 {
		p.renewTimeout = 30 * time.Second
	}
	if cfg.ValidationConcurrency == 0 {
		p.validateConc = 4
	}
	p.cfgp.Store(cfg.OAuth)
	p.clientID = cfg.OAuth.ClientID
	if p.now == nil {
		p.now, p.realClock = time.Now, true
	}
	if p.store == nil {
		p.store = store.NewMemory()
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.subjects = newSubjectMap()
	noIntents := map[string]string{}
	p.intents.Store(&noIntents)
	p.logins = map[string]string{}
	if err := p.Reload(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// Token returns the token of the subject, renewed when it is missing,
// expired or near expiry: the app token (fetched again), a user's token
// (refreshed), or the token of the user an intent points at. An unknown
// user or unset intent gives ErrUnknownSubject; a revoked or dead grant
// ErrGrantRevoked or ErrGrantDead.
func (p *Provider) Token(ctx context.Context, sub Subject) (*twitchauth.Token, error) {
	key, err := p.keyOf(sub)
	if err != nil {
		return nil, err
	}
	return p.token(ctx, key)
}

// keyOf returns the grant's subject key of sub ("app", "user:<id>"),
// resolving an intent to the user it points at now. It allocates nothing.
func (p *Provider) keyOf(sub Subject) (string, error) {
	switch {
	case sub.IsApp():
		return store.AppKey(), nil
	case len(sub.s) > len(userPrefix) && sub.s[:len(userPrefix)] == userPrefix:
		return sub.s, nil
	case len(sub.s) > len(intentPrefix) && sub.s[:len(intentPrefix)] == intentPrefix:
		name := sub.s[len(intentPrefix):]
		key, ok := (*p.intents.Load())[name]
		if !ok {
			return "", fmt.Errorf("%w: no user for intent %q", ErrUnknownSubject, name)
		}
		return key, nil
	}
	return "", fmt.Errorf("%w: %q", ErrInvalidSubject, sub.s)
}

// TokenWithScopes returns the subject's token if its grant has every one of
// scopes, or a *twitchauth.MissingScopesError naming those it lacks.
func (p *Provider) TokenWithScopes(ctx context.Context, sub Subject, scopes ...string) (*twitchauth.Token, error) {
	tok, err := p.Token(ctx, sub)
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
		return nil, &twitchauth.MissingScopesError{UserID: tok.UserID, Missing: missing}
	}
	return tok, nil
}

func (p *Provider) token(ctx context.Context, key string) (*twitchauth.Token, error) {
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

// Refresh renews the subject's token now, even if it is still valid.
func (p *Provider) Refresh(ctx context.Context, sub Subject) (*twitchauth.Token, error) {
	key, err := p.keyOf(sub)
	if err != nil {
		return nil, err
	}
	s, err := p.subjectFor(ctx, key)
	if err != nil {
		return nil, err
	}
	bad := ""
	if e := s.cur.Load(); e != nil {
		bad = e.g.access
	}
	e, err := p.renew(ctx, s, bad)
	if err != nil {
		return nil, err
	}
	return e.token(), nil
}

// Invalidate reports that Helix refused accessToken (HTTP 401) for the
// subject and returns a renewed token. Concurrent calls for the same
// refused token cause one renewal; a call for a token that was already
// replaced returns the current one without a request.
func (p *Provider) Invalidate(ctx context.Context, sub Subject, accessToken string) (*twitchauth.Token, error) {
	key, err := p.keyOf(sub)
	if err != nil {
		return nil, err
	}
	s, err := p.subjectFor(ctx, key)
	if err != nil {
		return nil, err
	}
	e, err := p.renew(ctx, s, accessToken)
	if err != nil {
		return nil, err
	}
	return e.token(), nil
}
