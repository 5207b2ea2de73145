package provider_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/internal/testkit"
	"github.com/twitchauth/twitchauth/provider"
	"github.com/twitchauth/twitchauth/store"
)

// The helpers shared with the root suite (internal/testkit), under the
// names this suite uses: the leak check, the sandbox with recognisable
// credentials, Configs for its clients, and provUser.
var (
	leaks        = testkit.Leaks
	testLogger   = testkit.Logger
	newSandbox   = testkit.NewSandbox
	confidential = testkit.Confidential
	public       = testkit.Public
	ctx          = testkit.Ctx
	provUser     = testkit.ProvUser
)

// TestMain runs the suite, then checks that no error string or log line it
// produced contains a client secret, access token, refresh token or ID token.
func TestMain(m *testing.M) { testkit.Main(m) }

// option sets one field of a provider.Config (the tests' shorthand).
type option func(*provider.Config)

func withStore(s store.Store) option          { return func(c *provider.Config) { c.Store = s } }
func withClock(now func() time.Time) option   { return func(c *provider.Config) { c.Now = now } }
func withHooks(h provider.Hooks) option       { return func(c *provider.Config) { c.Hooks = h } }
func withRenewTimeout(d time.Duration) option { return func(c *provider.Config) { c.RenewTimeout = d } }
func withLogger(l *slog.Logger) option        { return func(c *provider.Config) { c.Logger = l } }

// providerConfig builds the Config of cfg with opts.
func providerConfig(cfg *twitchauth.Config, opts ...option) provider.Config {
	c := provider.Config{OAuth: cfg}
	for _, o := range opts {
		o(&c)
	}
	return c
}

func withValidationConcurrency(n int) option {
	return func(c *provider.Config) { c.ValidationConcurrency = n }
}
func withValidationLease(d time.Duration) option {
	return func(c *provider.Config) { c.ValidationLease = d }
}
