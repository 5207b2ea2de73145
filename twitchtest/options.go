package twitchtest

import (
	"crypto/rsa"
	"log/slog"
	"time"
)

// Default lifetimes, chosen to match what Twitch issues (docs/protocol.md#lifetimes-and-rotation).
const (
	// DefaultUserTokenLifetime is the lifetime of user access tokens: Twitch
	// documents "4 hours".
	DefaultUserTokenLifetime = 4 * time.Hour
	// DefaultAppTokenLifetime is the lifetime of app access tokens: about 60
	// days, as Twitch issues them (the docs' example says 5011271 s).
	DefaultAppTokenLifetime = 60 * 24 * time.Hour
	// DefaultCodeLifetime is the lifetime of an authorization code.
	DefaultCodeLifetime = 10 * time.Minute
	// DefaultDeviceInterval is the polling interval announced by /oauth2/device.
	DefaultDeviceInterval = 5 * time.Second
	// DefaultDeviceCodeLifetime is the lifetime of a device code (expires_in 1800).
	DefaultDeviceCodeLifetime = 30 * time.Minute
	// PublicRefreshIdleLifetime is how long a public client's refresh token
	// stays valid unused (Twitch: "30 days").
	PublicRefreshIdleLifetime = 30 * 24 * time.Hour
	// IDTokenLifetime is the lifetime of OpenID Connect ID tokens (observed
	// exp-iat of real Twitch ID tokens: 900 s).
	IDTokenLifetime = 15 * time.Minute
)

// Option configures a Server built by New or NewServer.
type Option func(*config)

type config struct {
	clients          []Client
	users            []User
	userTTL          time.Duration
	appTTL           time.Duration
	codeTTL          time.Duration
	deviceTTL        time.Duration
	deviceInterval   time.Duration
	deviceSlowDown   bool
	singleUseRefresh bool
	autoApprove      string
	clock            func() time.Time
	stateFile        string
	logger           *slog.Logger
	signingKey       *rsa.PrivateKey
	sharedKey        bool // NewServer: fall back to the process-wide test key
	helixLimit       rateLimit
	viewerLimit      rateLimit
	pubsubLimit      rateLimit
	secretOverlap    time.Duration
	consoleHome      consoleLink
	eventsub         EventSubConfig
}

func defaultConfig() config {
	return config{
		userTTL:        DefaultUserTokenLifetime,
		appTTL:         DefaultAppTokenLifetime,
		codeTTL:        DefaultCodeLifetime,
		deviceTTL:      DefaultDeviceCodeLifetime,
		deviceInterval: DefaultDeviceInterval,
		clock:          time.Now,
		logger:         slog.New(slog.DiscardHandler),
	}
}

// WithClient registers a client. Empty ID and Secret are generated; an empty
// Type means confidential. The first confidential client given becomes
// DefaultClient and the first public one PublicClient; when none of a type is
// given the sandbox creates one.
func WithClient(c Client) Option { return func(cfg *config) { cfg.clients = append(cfg.clients, c) } }

// WithUser registers a sandbox user. When no WithUser option is given the
// sandbox creates its default users (twitchdev, a broadcaster, a moderator and
// a viewer). An empty ID is generated (numeric string).
func WithUser(u User) Option { return func(cfg *config) { cfg.users = append(cfg.users, u) } }

// WithUserTokenLifetime sets the lifetime of user access tokens (default 4h).
func WithUserTokenLifetime(d time.Duration) Option { return func(cfg *config) { cfg.userTTL = d } }

// WithAppTokenLifetime sets the lifetime of app access tokens (default 60 days).
func WithAppTokenLifetime(d time.Duration) Option { return func(cfg *config) { cfg.appTTL = d } }

// WithCodeLifetime sets the lifetime of authorization codes (default 10 min).
func WithCodeLifetime(d time.Duration) Option { return func(cfg *config) { cfg.codeTTL = d } }

// WithDeviceCodeLifetime sets the lifetime of device codes (default 30 min).
func WithDeviceCodeLifetime(d time.Duration) Option { return func(cfg *config) { cfg.deviceTTL = d } }

// WithDeviceInterval sets the polling interval announced for device codes
// (default 5s). The "interval" field of /oauth2/device is rounded up to whole
// seconds; the sandbox measures polls against d itself.
func WithDeviceInterval(d time.Duration) Option { return func(cfg *config) { cfg.deviceInterval = d } }

// WithDeviceSlowDown makes a device poll that comes sooner than the interval
// answer {"status":400,"message":"slow_down"} (RFC 8628 style) instead of the
// Twitch-like default authorization_pending.
func WithDeviceSlowDown(on bool) Option { return func(cfg *config) { cfg.deviceSlowDown = on } }

// WithSingleUseRefresh makes confidential clients' refresh tokens single-use
// too: after a refresh the old refresh token is refused. By default only
// public clients' refresh tokens are single-use (see doc.go).
func WithSingleUseRefresh(on bool) Option { return func(cfg *config) { cfg.singleUseRefresh = on } }

// WithAutoApprove acts as if login is signed in and consents to everything:
// /oauth2/authorize redirects at once and device codes are approved at once.
func WithAutoApprove(login string) Option { return func(cfg *config) { cfg.autoApprove = login } }

// WithClock replaces time.Now, for tests that move time forward.
func WithClock(now func() time.Time) Option { return func(cfg *config) { cfg.clock = now } }

// WithStateFile persists clients, users, grants, tokens and the signing key to
// path (JSON, mode 0600) and loads them from it at start when it exists.
func WithStateFile(path string) Option { return func(cfg *config) { cfg.stateFile = path } }

// WithLogger sets the logger (default: discard). Secrets are never logged.
func WithLogger(l *slog.Logger) Option { return func(cfg *config) { cfg.logger = l } }

// WithSigningKey sets the RSA key that signs ID tokens. Without it the server
// generates an RSA-2048 key on first use (or loads it from the state file).
func WithSigningKey(k *rsa.PrivateKey) Option { return func(cfg *config) { cfg.signingKey = k } }

// WithHelixRateLimit sets the size of Helix's app bucket (per client) and
// user buckets (per client per user) and the time an empty bucket takes to
// refill (default 800 points per minute). Tests use small values to reach
// 429 quickly.
func WithHelixRateLimit(points int, per time.Duration) Option {
	return func(cfg *config) { cfg.helixLimit = rateLimit{points, per} }
}

// WithExtensionViewerRateLimit sets the bucket of each extension viewer
// calling Helix with the Extension scheme (default 30 per minute per opaque
// user ID).
func WithExtensionViewerRateLimit(points int, per time.Duration) Option {
	return func(cfg *config) { cfg.viewerLimit = rateLimit{points, per} }
}

// WithExtensionPubSubRateLimit sets the limit of POST
// /helix/extensions/pubsub per extension client and broadcaster (default 100
// messages per minute).
func WithExtensionPubSubRateLimit(points int, per time.Duration) Option {
	return func(cfg *config) { cfg.pubsubLimit = rateLimit{points, per} }
}

// WithExtensionSecretOverlap sets how long an extension's old secrets stay
// valid after a new secret becomes active (default one hour, as the developer
// console announces).
func WithExtensionSecretOverlap(d time.Duration) Option {
	return func(cfg *config) { cfg.secretOverlap = d }
}

// WithConsoleHome adds a link back to the program that runs the sandbox
// (label, absolute or root-relative url) to the developer console's pages,
// as `twitchauth serve --sandbox` does for the broker.
func WithConsoleHome(label, url string) Option {
	return func(cfg *config) { cfg.consoleHome = consoleLink{Label: label, URL: url} }
}
