package twitchauth_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/provider"
)

// trOption sets one field of a twitchauth.TransportConfig (the tests'
// shorthand).
type trOption func(*twitchauth.TransportConfig)

func withBase(rt http.RoundTripper) trOption {
	return func(c *twitchauth.TransportConfig) { c.Base = rt }
}
func withPacer(p *twitchauth.Pacer) trOption {
	return func(c *twitchauth.TransportConfig) { c.Pacer = p }
}
func withoutPacing() trOption { return func(c *twitchauth.TransportConfig) { c.NoPacing = true } }
func withoutScopeCheck() trOption {
	return func(c *twitchauth.TransportConfig) { c.NoScopeCheck = true }
}
func withMaxReplayBody(n int64) trOption {
	return func(c *twitchauth.TransportConfig) { c.MaxReplayBody = n }
}
func withRetryBackoff(d time.Duration) trOption {
	return func(c *twitchauth.TransportConfig) { c.RetryBackoff = d }
}
func withBucketKey(k string) trOption {
	return func(c *twitchauth.TransportConfig) { c.BucketKey = k }
}

// newTransport builds a Transport of cfg and src with opts.
func newTransport(cfg *twitchauth.Config, src oauth2.TokenSource, opts ...trOption) *twitchauth.Transport {
	c := twitchauth.TransportConfig{Config: cfg, Source: src}
	for _, o := range opts {
		o(&c)
	}
	if c.Pacer == nil && !c.NoPacing {
		c.Pacer = &twitchauth.Pacer{}
	}
	t := twitchauth.NewTransport(c)
	pacers.Store(t, c.Pacer)
	return t
}

// pacers and transports remember what the shorthands built, for the tests
// that look at a Transport's Pacer or a Helix client's Transport.
var pacers, transports sync.Map

// pacerOf returns the Pacer newTransport gave tr.
func pacerOf(tr *twitchauth.Transport) *twitchauth.Pacer {
	p, _ := pacers.Load(tr)
	return p.(*twitchauth.Pacer)
}

// statsOf returns the counters of the Transport newHelix gave h.
func statsOf(h *twitchauth.Helix) twitchauth.TransportStats {
	t, _ := transports.Load(h)
	return t.(*twitchauth.Transport).Stats()
}

// newHelix builds a Helix client over newTransport(cfg, src, opts...).
func newHelix(cfg *twitchauth.Config, src oauth2.TokenSource, opts ...trOption) *twitchauth.Helix {
	t := newTransport(cfg, src, opts...)
	h := twitchauth.NewHelix(t)
	transports.Store(h, t)
	return h
}

func newProvider(t testing.TB, cfg *twitchauth.Config) *provider.Provider {
	t.Helper()
	// Provider log lines go to the suite's leak check (see TestMain).
	p, err := provider.New(t.Context(), provider.Config{OAuth: cfg, Logger: testLogger})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// verifyIDToken verifies rawIDToken with a new IDTokenVerifier of cfg.
func verifyIDToken(ctx context.Context, cfg *twitchauth.Config, rawIDToken, nonce string) (*twitchauth.IDTokenClaims, error) {
	v, err := cfg.NewIDTokenVerifier(ctx)
	if err != nil {
		return nil, err
	}
	return v.Verify(ctx, rawIDToken, nonce)
}
