package rig

import (
	"context"
	"net/http"

	"github.com/twitchauth/twitchauth/twitchtest"
)

// backend is what the rig needs from the sandbox: the extension client,
// its users, JWT minting and Helix. localBackend talks to a
// *twitchtest.Server in the same process; remoteBackend to one over HTTP.
type backend interface {
	extensionClientID(ctx context.Context) (string, error)
	users(ctx context.Context) ([]twitchtest.User, error)
	mintExtensionJWT(ctx context.Context, o twitchtest.ExtJWTOptions) (string, error)
	mintHelixJWT(ctx context.Context, o twitchtest.HelixJWTOptions) (string, error)
	// helix serves /helix/... requests (paths as the sandbox has them).
	helix() http.Handler
	// exhaust holds a Helix bucket empty until its reset.
	exhaust(ctx context.Context, b twitchtest.HelixBucket) (twitchtest.RateLimitState, error)
}

// localBackend is a sandbox in the same process.
type localBackend struct{ s *twitchtest.Server }

func (b localBackend) extensionClientID(context.Context) (string, error) {
	return b.s.ExtensionClient().ID, nil
}

func (b localBackend) users(context.Context) ([]twitchtest.User, error) { return b.s.Users(), nil }

func (b localBackend) mintExtensionJWT(_ context.Context, o twitchtest.ExtJWTOptions) (string, error) {
	return b.s.MintExtensionJWT(o)
}

func (b localBackend) mintHelixJWT(_ context.Context, o twitchtest.HelixJWTOptions) (string, error) {
	return b.s.MintHelixJWT(o)
}

func (b localBackend) helix() http.Handler { return b.s.Handler() }

func (b localBackend) exhaust(_ context.Context, hb twitchtest.HelixBucket) (twitchtest.RateLimitState, error) {
	return b.s.ExhaustRateLimit(hb)
}
