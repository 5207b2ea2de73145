package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/eventsub"
	"github.com/twitchauth/twitchauth/provider"
	"github.com/twitchauth/twitchauth/store"
)

// Config configures a Broker.
type Config struct {
	// Twitch is the application the broker holds tokens for. Its RedirectURI
	// is set by New to PublicURL + "/callback"; register that URI with Twitch.
	Twitch *twitchauth.Config
	// Store persists the tokens (required). The Broker does not close it.
	Store store.Store
	// PublicURL is the broker's base URL as browsers reach it, such as
	// "http://localhost:8080" or "https://auth.example.com" (required).
	// With https, cookies are marked Secure.
	PublicURL string
	// Keys are the API keys accepted by the token API and the admin login.
	// The broker adds to it the keys of KeysFile and of the store's
	// KeysRecord of its application, and follows their changes.
	Keys *KeySet
	// KeysFile, when set, is a keys file (WriteKeysFile, `twitchauth serve
	// keys`) whose keys the broker accepts. New reads it; while Run runs it
	// is read again every KeysReloadInterval (and on ReloadKeys): a key
	// created, changed or deleted there takes effect without a restart. The
	// store's KeysRecord is followed the same way, for fleets that share no
	// filesystem.
	KeysFile string
	// KeysReloadInterval is how often the keys file and the store's
	// KeysRecord are read again (default DefaultKeysReloadInterval).
	KeysReloadInterval time.Duration
	// Audit, when set, receives an entry for every request made with a
	// known API key (token API, Helix proxy, admin routes), every operator
	// action, intent change and key change. While it cannot be written,
	// those requests are refused with 503 (see AuditLog). The Broker does not
	// close it.
	Audit *AuditLog
	// OpenOnLoopback opens the operator's pages without a sign-in to
	// browsers on a loopback address (the --sandbox mode): a browser's
	// navigation from loopback is given an operator session. It grants
	// nothing to other requests: state-changing requests still need that
	// session's cookie and CSRF token, so a script on the machine cannot
	// act without a browser. Leave it false in production: a reverse proxy
	// makes every request look local.
	OpenOnLoopback bool
	// AllowedHosts are host names, besides the public URL's, loopback names
	// and IP addresses, under which the broker answers (the Host header;
	// "*.example.com" allows subdomains). Any other Host is refused with 421,
	// which defeats DNS rebinding. Add the names a reverse proxy or your
	// services use when they differ from the public URL's.
	AllowedHosts []string
	// SigningKey signs the sign-in state cookies and the CSRF tokens (at
	// least 32 bytes). Empty means the key stored in Store under
	// SigningKeyRecord, created on first use: every replica sharing the
	// store then shares it.
	SigningKey []byte
	// Links are extra links shown in the pages' navigation, by label, such
	// as the sandbox's developer console and the extension rig in
	// --sandbox mode.
	Links []Link
	// HelixTimeout bounds one request through the Helix proxy, waits for
	// the rate limit and retries included (default DefaultHelixTimeout).
	// Past it the caller gets 504, or 429 when the subject's rate limit is
	// what would make it wait longer.
	HelixTimeout time.Duration
	// HelixTransport sends the Helix proxy's requests (default: a clone of
	// http.DefaultTransport). Each subject's twitchauth.Transport wraps it
	// to add Client-Id and Authorization, renew the token after a 401 and
	// pace requests against the rate limits.
	HelixTransport http.RoundTripper
	// Registerer receives the broker's Prometheus metrics; nil means a new
	// registry, served at /metrics. When set, Gatherer should be set too.
	Registerer prometheus.Registerer
	// Gatherer is served at /metrics; nil means the registry New creates.
	Gatherer prometheus.Gatherer
	// ValidationInterval is the period of Run's token validation (default
	// provider.DefaultValidationInterval, the hour Twitch requires).
	ValidationInterval time.Duration
	// StateTTL bounds a sign-in (default DefaultStateTTL); SessionTTL an
	// operator session (default DefaultSessionTTL).
	StateTTL, SessionTTL time.Duration
	// RefreshMargin and RenewTimeout are passed to the Provider (see
	// provider.Config; zero: its defaults).
	RefreshMargin, RenewTimeout time.Duration
	// ValidationLease and NoValidationClaims are passed to the Provider:
	// how long a replica's claim on grants to validate lasts, and whether
	// every replica validates every token instead of sharing the work (see
	// provider.Config).
	ValidationLease    time.Duration
	NoValidationClaims bool
	// Hooks are called by the Provider after the broker's own.
	Hooks provider.Hooks
	// EventSubSecret, when set, mounts the EventSub webhook callback at
	// PublicURL + EventSubPath, verified with this secret (package
	// eventsub), and makes Run keep the app's webhook subscriptions to
	// user.authorization.revoke and user.authorization.grant for its own
	// client ID at that callback (see docs/broker.md, "EventSub"). A
	// verified revoke stops the user's grant at once. SetEventSubSecret
	// changes it later.
	EventSubSecret eventsub.Secret
	// EventSubCheckInterval is how often Run checks the subscriptions when
	// nothing else asks (default DefaultEventSubCheckInterval).
	EventSubCheckInterval time.Duration
	// Logger receives structured logs, never a secret (default: discard).
	Logger *slog.Logger
	// Now replaces time.Now (tests).
	Now func() time.Time
}

// Link is a navigation link of the broker's pages.
type Link struct {
	Label, URL string
}

// Broker is the token broker: web pages to connect Twitch accounts, a JSON
// token API for internal services, a Helix proxy, health and metrics. Build
// it with New, then either Serve it, or mount Handler in your own
// http.Server (beside routes of your own, wrapped with CheckHost) and call
// Run for the background work.
type Broker struct {
	cfg      Config
	twitch   *twitchauth.Config
	provider *provider.Provider
	keys     *KeySet
	log      *slog.Logger
	now      func() time.Time
	secure   bool
	signer   signer
	spent    *spentStates
	sessions *sessionTable

	publicHost   string   // the public URL's host name
	allowedHosts []string // Config.AllowedHosts, lower-cased
	hostLogAt    atomic.Int64

	mux, web *http.ServeMux // the routers, for 405's Allow

	intents   intentLog    // recent intent changes (accounts page)
	reads     readLog      // each account's last reads by key (accounts page)
	keyReload *keyReloader // follows the keys file and the store's keys
	secretMu  sync.Mutex   // one client-secret change at a time
	metrics   *metrics
	gatherer  prometheus.Gatherer
	helix     *helixProxy
	es        *esBroker // nil without Config.EventSubSecret
	handler   http.Handler
	pages     *pages

	cred atomic.Pointer[credProblem] // refused client credentials, if any

	readyMu    sync.Mutex
	readyAt    time.Time
	readyErr   error
	readyCheck func(ctx context.Context) error
}

// New builds a Broker and its Provider, loading the grants already in the
// store, the signing key (created in the store on first use; see
// SigningKeyRecord) and the API keys of KeysFile and of the store's
// KeysRecord. It does no other I/O.
func New(ctx context.Context, cfg Config) (*Broker, error) {
	if cfg.Twitch == nil || cfg.Twitch.ClientID == "" {
		return nil, errors.New("broker: the Twitch client ID is required")
	}
	if cfg.Store == nil {
		return nil, errors.New("broker: a store is required")
	}
	pu, err := url.Parse(cfg.PublicURL)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" || pu.RawQuery != "" || pu.Fragment != "" {
		return nil, fmt.Errorf("broker: the public URL %q must be an absolute http(s) URL such as http://localhost:8080", cfg.PublicURL)
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	if cfg.Keys == nil {
		cfg.Keys, _ = NewKeySet()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.StateTTL <= 0 {
		cfg.StateTTL = DefaultStateTTL
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.KeysReloadInterval <= 0 {
		cfg.KeysReloadInterval = DefaultKeysReloadInterval
	}
	if cfg.HelixTimeout <= 0 {
		cfg.HelixTimeout = DefaultHelixTimeout
	}
	gatherer := cfg.Gatherer
	if cfg.Registerer == nil {
		reg := prometheus.NewRegistry()
		cfg.Registerer = reg
		if gatherer == nil {
			gatherer = reg
		}
	}
	if gatherer == nil {
		gatherer = prometheus.DefaultGatherer
	}
	tw := *cfg.Twitch // a copy: the broker owns its redirect URI
	tw.RedirectURI = cfg.PublicURL + "/callback"
	if tw.Logger == nil {
		tw.Logger = cfg.Logger
	}

	b := &Broker{
		cfg:      cfg,
		twitch:   &tw,
		keys:     cfg.Keys,
		log:      cfg.Logger,
		now:      cfg.Now,
		secure:   pu.Scheme == "https",
		spent:    newSpentStates(cfg.Now),
		sessions: newSessionTable(cfg.SessionTTL, cfg.Now),
		gatherer: gatherer,

		publicHost: publicHostOf(pu),
	}
	for _, h := range cfg.AllowedHosts {
		h = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
		if h == "" || strings.ContainsAny(h, "/:@ ") {
			return nil, fmt.Errorf("broker: allowed host %q: give a host name such as auth.internal or *.example.com, without scheme or port", h)
		}
		b.allowedHosts = append(b.allowedHosts, h)
	}
	key := cfg.SigningKey
	if len(key) == 0 {
		if key, err = loadSigningKey(ctx, cfg.Store); err != nil {
			return nil, err
		}
	} else if len(key) < signingKeySize {
		return nil, fmt.Errorf("broker: the signing key must be at least %d bytes", signingKeySize)
	}
	b.signer = signer{key: key}
	b.metrics = newMetrics(cfg.Registerer, func() float64 {
		if b.provider == nil {
			return 0
		}
		return float64(b.provider.UserCount())
	})
	b.provider, err = provider.New(ctx, provider.Config{
		OAuth:         b.twitch,
		Store:         cfg.Store,
		Hooks:         b.metrics.hooks(b.logHooks(cfg.Hooks)),
		Logger:        cfg.Logger,
		Now:           cfg.Now,
		RefreshMargin: cfg.RefreshMargin,
		RenewTimeout:  cfg.RenewTimeout,

		ValidationLease:    cfg.ValidationLease,
		NoValidationClaims: cfg.NoValidationClaims,
	})
	if err != nil {
		return nil, fmt.Errorf("broker: loading the stored grants: %w", err)
	}
	releaseAfterBurst(b.provider.UserCount())
	b.keyReload = newKeyReloader(b)
	if err := b.keyReload.reload(ctx); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	if cfg.Audit != nil {
		cfg.Registerer.MustRegister(newAuditCollector(cfg.Audit))
	}
	b.readyCheck = b.checkReady
	if b.pages, err = newPages(); err != nil {
		return nil, err
	}
	b.helix, err = newHelixProxy(b)
	if err != nil {
		return nil, err
	}
	cfg.Registerer.MustRegister(newHelixCollector(b.helix), newHealthCollector(b))
	if cfg.EventSubSecret != "" {
		if b.es, err = newESBroker(b, cfg.EventSubSecret, cfg.EventSubCheckInterval); err != nil {
			return nil, err
		}
	}
	b.handler = b.routes()
	if !cfg.Keys.HasAdmin() && !cfg.OpenOnLoopback {
		b.log.Warn("broker: no API key holds the admin permission: nobody can sign in to the web pages; create one with `twitchauth serve keys create --name admin --perm admin`")
	}
	return b, nil
}

// logHooks logs the Provider's events (never a token) and calls next.
func (b *Broker) logHooks(next provider.Hooks) provider.Hooks {
	return provider.Hooks{
		OnRefresh: func(subject provider.Subject, tok *twitchauth.Token) {
			b.noteRenewal(nil)
			b.log.Info("token renewed", "subject", subject, "expires", tok.Expiry)
			if next.OnRefresh != nil {
				next.OnRefresh(subject, tok)
			}
		},
		OnRefreshFailure: func(err *provider.RefreshError) {
			b.noteRenewal(err)
			b.log.Warn("token renewal failed", "subject", err.Subject, "dead", err.Dead, "err", err.Err)
			if next.OnRefreshFailure != nil {
				next.OnRefreshFailure(err)
			}
		},
		OnRevoked: func(subject provider.Subject) {
			b.log.Warn("grant revoked by the user", "subject", subject)
			if next.OnRevoked != nil {
				next.OnRevoked(subject)
			}
		},
		OnScopesChanged: func(subject provider.Subject, old, new []string) {
			b.log.Info("scopes changed", "subject", subject, "old", old, "new", new)
			if next.OnScopesChanged != nil {
				next.OnScopesChanged(subject, old, new)
			}
		},
	}
}

// Provider returns the Provider holding the broker's tokens.
func (b *Broker) Provider() *provider.Provider { return b.provider }

// RedirectURI returns the redirect URI to register with Twitch:
// PublicURL + "/callback".
func (b *Broker) RedirectURI() string { return b.twitch.RedirectURI }

// Handler returns the broker's HTTP handler (pages, API, proxy, metrics).
func (b *Broker) Handler() http.Handler { return b.handler }

// Run validates every held token at once and then every ValidationInterval
// (with a store that schedules validation, such as PostgreSQL, once per
// interval for the whole fleet: see provider.Provider.RunValidation),
// follows the API keys' sources (every KeysReloadInterval), and sweeps
// expired sign-ins and sessions, until ctx ends. It returns nil when ctx
// ends.
func (b *Broker) Run(ctx context.Context) error {
	go b.keyReload.run(ctx, b.cfg.KeysReloadInterval)
	if b.es != nil {
		go b.es.run(ctx)
	}
	go func() {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				b.spent.sweep()
				b.sessions.sweep()
				b.reads.forget(func(id string) bool { _, ok := b.provider.User(id); return ok })
			}
		}
	}()
	// Stores shared by replicas (PostgreSQL) report changes made by the
	// others: adopt their renewals, drop the grants they removed.
	go func() {
		for ctx.Err() == nil {
			err := b.provider.Watch(ctx)
			if errors.Is(err, errors.ErrUnsupported) {
				return
			}
			if ctx.Err() == nil {
				b.log.Warn("store watch interrupted; reloaded every grant, watching again", "err", err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	err := b.provider.RunValidation(ctx, b.cfg.ValidationInterval, func(rs []provider.ValidationResult) {
		b.metrics.validated(rs)
		for _, r := range rs {
			if r.Err != nil {
				b.log.Warn("validation failed", "subject", r.Subject, "revoked", r.Revoked, "err", r.Err)
			}
		}
		b.log.Info("validation round done", "subjects", len(rs))
		releaseAfterBurst(len(rs))
	})
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}

// burstGrants is the number of grants from which loading them, or one
// validation round over them, leaves enough garbage to be worth returning
// to the operating system at once.
const burstGrants = 10_000

// releaseAfterBurst returns the memory freed by a burst of work over n
// grants to the operating system, in the background. Loading 100,000
// grants or validating them all leaves tens of megabytes of garbage; the Go
// runtime would keep that memory mapped for reuse, and the process's RSS
// would stay at its peak until the next burst (issue 21: 100,000 grants in
// 150 MB). It costs one collection per load and per round (hourly).
func releaseAfterBurst(n int) {
	if n >= burstGrants {
		go debug.FreeOSMemory()
	}
}

// Serve serves the broker's Handler on l until ctx ends, then shuts down
// gracefully (waiting up to 10 seconds for requests in flight). It also runs
// Run.
func (b *Broker) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{
		Handler:           b.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(b.log.Handler(), slog.LevelWarn),
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	runDone := make(chan struct{})
	go func() {
		defer close(runDone)
		if err := b.Run(runCtx); err != nil {
			b.log.Error("validation loop stopped", "err", err)
		}
	}()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		cancel()
		<-runDone
		return err
	case <-ctx.Done():
	}
	b.log.Info("shutting down")
	shCtx, shCancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer shCancel()
	err := srv.Shutdown(shCtx)
	cancel()
	<-runDone
	if err != nil {
		return fmt.Errorf("broker: shutdown: %w", err)
	}
	return nil
}

// readyCacheFailure is how long a failed readiness check is remembered, so
// that a probe every few seconds does not hammer Twitch with refused
// client-credentials requests.
const readyCacheFailure = 15 * time.Second

// ready runs the readiness checks (store reachable, app credentials
// accepted).
func (b *Broker) ready(ctx context.Context) error {
	if err := b.auditUnavailable(); err != nil { // not cached: it ends at the first successful retry
		return fmt.Errorf("%w; the broker refuses audited requests until it can write it (free disk space, fix the file's permissions)", err)
	}
	b.readyMu.Lock()
	if b.readyErr != nil && b.now().Sub(b.readyAt) < readyCacheFailure {
		err := b.readyErr
		b.readyMu.Unlock()
		return err
	}
	b.readyMu.Unlock()
	// The check runs unlocked: it may renew the app token, whose hooks
	// reset this cache.
	err := b.readyCheck(ctx)
	b.readyMu.Lock()
	b.readyErr, b.readyAt = err, b.now()
	b.readyMu.Unlock()
	return err
}

func (b *Broker) checkReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := b.cfg.Store.Load(ctx, "readyz:probe"); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("the token store is not reachable: %w", err)
	}

	if p := b.cred.Load(); p != nil {
		// A renewal was refused: the cached app token may still work, but
		// the next renewal of every token will fail until this is mended.
		return p.err
	}
	if _, err := b.provider.Token(ctx, provider.App()); err != nil {
		if ce := credentialError(err); ce != nil {
			return ce
		}
		return fmt.Errorf("cannot get an app access token: %w", err)
	}
	return nil
}
