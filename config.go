package twitchauth

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Endpoints holds the two base URLs the client talks to. Paths such as
// "/token", "/validate" or "/users" are appended to them.
type Endpoints struct {
	// IDURL is the base of the identity service, without a trailing slash:
	// "https://id.twitch.tv/oauth2" for Twitch. It is also the OpenID
	// Connect issuer.
	IDURL string
	// APIURL is the base of the Helix API, without a trailing slash:
	// "https://api.twitch.tv/helix" for Twitch.
	APIURL string
}

// TwitchEndpoints are the production Twitch endpoints, used when
// Config.Endpoints is left empty.
var TwitchEndpoints = Endpoints{
	IDURL:  "https://id.twitch.tv/oauth2",
	APIURL: "https://api.twitch.tv/helix",
}

// DefaultTimeout bounds every request made through the default HTTP client.
const DefaultTimeout = 30 * time.Second

// defaultHTTPClient is used when Config.HTTPClient is nil: unlike
// http.DefaultClient it has a timeout, and it does not follow redirects (an
// identity endpoint that redirects is misconfigured, and a followed POST
// would silently turn into a GET without its body).
var defaultHTTPClient = &http.Client{
	Timeout: DefaultTimeout,
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// Config describes one registered Twitch application and how to reach Twitch.
// Its methods are the protocol verbs: AppToken, AuthorizeURL, ExchangeCode,
// Refresh, Validate, Revoke, the device and implicit flows and OpenID Connect.
//
// A Config is safe for concurrent use once built; do not modify it while
// requests are in flight.
type Config struct {
	// ClientID is the application's client ID (public).
	ClientID string
	// ClientSecret is the application's client secret. Leave it empty for a
	// public client. It is only ever sent in POST bodies.
	ClientSecret string
	// RedirectURI is the OAuth redirect URI; it must exactly match one
	// registered for the application (http://localhost:3000 has no trailing
	// slash; docs/protocol.md#authorize).
	RedirectURI string
	// Scopes are the scopes requested by AuthorizeURL and StartDevice when
	// the call does not name its own.
	Scopes []string
	// HTTPClient makes every request. If nil, a dedicated client with a
	// DefaultTimeout timeout is used (never http.DefaultClient).
	HTTPClient *http.Client
	// Endpoints overrides the Twitch endpoints (a sandbox, a twitch-cli mock
	// server). Empty fields fall back to TwitchEndpoints.
	Endpoints Endpoints
	// Logger receives one debug line per request (endpoint, status,
	// duration; never a secret or token). If nil, nothing is logged.
	Logger *slog.Logger

	// sleep waits between device-flow polls; tests shorten it.
	sleep func(ctx context.Context, d time.Duration) error
}

func (c *Config) httpClient() *http.Client {
	if c.HTTPClient != nil {
		return c.HTTPClient
	}
	return defaultHTTPClient
}

var discardLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

func (c *Config) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return discardLogger
}

// idURL returns the identity base URL followed by path.
func (c *Config) idURL(path string) string {
	base := c.Endpoints.IDURL
	if base == "" {
		base = TwitchEndpoints.IDURL
	}
	return strings.TrimSuffix(base, "/") + path
}

// issuer is the OpenID Connect issuer: the identity base URL.
func (c *Config) issuer() string { return c.idURL("") }

// APIBaseURL returns the Helix base URL in use (Endpoints.APIURL, or Twitch's
// when unset), without a trailing slash.
func (c *Config) APIBaseURL() string {
	base := c.Endpoints.APIURL
	if base == "" {
		base = TwitchEndpoints.APIURL
	}
	return strings.TrimSuffix(base, "/")
}

func (c *Config) wait(ctx context.Context, d time.Duration) error {
	if c.sleep != nil {
		return c.sleep(ctx, d)
	}
	return sleepContext(ctx, d)
}

func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
